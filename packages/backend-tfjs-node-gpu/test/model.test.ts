import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops, setBackend, tidy, valueAndGrads, type Backend, type Tensor } from '@karakoram/core';
import { createCpuBackend } from '@karakoram/backend-cpu';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { Muon } from '@karakoram/optim-muon';
import { createTfjsBackend, type TfjsBackendName } from '../src/index.js';

/**
 * The tiny K2-family model on this backend against the cpu backend, with the same weights (built on
 * cpu, copied across with ops.toBackend): logits, a greedy generation, and one Muon training step.
 */

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

const PROMPTS = [[5, 9, 2, 33, 14, 7, 60, 1], [11, 3, 3, 40, 22, 8, 9, 17]];
const ids = (b: Backend, rows: number[][]): Tensor => ops.tensor(rows.flat(), [rows.length, rows[0]!.length], 'i32', b);

let cpu: Backend;
let ref: DeepseekV3ForCausalLM;

beforeAll(async () => {
  cpu = await createCpuBackend();
  setBackend(cpu);
  ref = new DeepseekV3ForCausalLM(preset('tiny'), { seed: 3 });
});
afterAll(() => ref.dispose());

/** A model on `b` holding exactly ref's weights. */
async function copyModel(b: Backend): Promise<DeepseekV3ForCausalLM> {
  setBackend(b);
  const m = new DeepseekV3ForCausalLM(preset('tiny'), { seed: 99 });
  const state = new Map<string, Tensor>();
  for (const [name, t] of ref.stateDict()) state.set(name, await ops.toBackend(t, b));
  m.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  return m;
}

async function trainStep(m: DeepseekV3ForCausalLM, b: Backend): Promise<{ loss: number; params: Map<string, Float32Array> }> {
  setBackend(b);
  const opt = new Muon(m, { lr: 0.02 });
  const x = ids(b, PROMPTS.map((p) => p.slice(0, -1)));
  const y = ids(b, PROMPTS.map((p) => p.slice(1)));
  const { value, grads } = valueAndGrads(() => m.loss(x, y), m.parameters());
  opt.step(grads);
  const loss = (await value.data())[0]!;
  for (const t of [value, x, y, ...grads]) t.dispose();
  const params = new Map<string, Float32Array>();
  for (const [name, t] of m.stateDict()) params.set(name, (await t.data()) as Float32Array);
  return { loss, params };
}

describe.each(['wasm', 'cpu'] as TfjsBackendName[])('tiny model on tfjs-node-gpu over tfjs %s agrees with the cpu backend', (tfjsBackend) => {
  let tfb: Backend;
  let m: DeepseekV3ForCausalLM;

  beforeAll(async () => {
    tfb = await createTfjsBackend({ tfjsBackend });
    m = await copyModel(tfb);
  });
  afterAll(() => m.dispose());

  it('logits within 1e-3', async () => {
    setBackend(cpu);
    const want = tidy(() => ref.forward(ids(cpu, PROMPTS)));
    setBackend(tfb);
    const got = tidy(() => m.forward(ids(tfb, PROMPTS)));
    expect(got.backend).toBe(tfb);
    const d = maxAbsDiff(await got.data(), await want.data());
    console.log(`tfjs ${tfjsBackend}: logits max |diff| vs cpu = ${d.toExponential(2)} (max |logit| ${maxAbs(await want.data()).toFixed(3)})`);
    expect(d).toBeLessThan(1e-3);
    got.dispose();
    want.dispose();
  });

  it('greedy generation gives the same tokens', () => {
    const prompts = [[5, 9, 2, 33], [11]];
    setBackend(cpu);
    const want = ref.generate(prompts, { maxNewTokens: 6, temperature: 0 });
    setBackend(tfb);
    const got = m.generate(prompts, { maxNewTokens: 6, temperature: 0 });
    expect(got).toEqual(want);
  });

  it('one Muon training step agrees within 1e-3 relative', async () => {
    setBackend(cpu);
    const before = new Map<string, Float32Array>();
    for (const [name, t] of ref.stateDict()) before.set(name, (await t.data()) as Float32Array);
    const cpuModel = await copyModel(cpu);
    const a = await trainStep(cpuModel, cpu);
    const b = await trainStep(m, tfb);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-3 * Math.abs(a.loss));
    let worst = 0;
    let worstName = '';
    for (const [name, w] of a.params) {
      // Compared on the update (new - old), relative to the cpu update's largest entry.
      const w0 = before.get(name)!;
      const dw = w.map((v, i) => v - w0[i]!);
      const dg = b.params.get(name)!.map((v, i) => v - w0[i]!);
      const rel = maxAbsDiff(dg, dw) / Math.max(maxAbs(dw), 1e-6);
      if (rel > worst) [worst, worstName] = [rel, name];
    }
    console.log(`tfjs ${tfjsBackend}: after one Muon step, worst relative diff of a parameter update ${worst.toExponential(2)} (${worstName}); loss ${a.loss} vs ${b.loss}`);
    expect(worst, worstName).toBeLessThan(1e-3);
    cpuModel.dispose();
  });
});
