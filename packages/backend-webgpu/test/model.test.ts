/**
 * The model, a training step and generation on webgpu against the cpu backend, with the same
 * weights: DeepseekV3ForCausalLM preset 'tiny' is built on cpu, its state dict uploaded to webgpu.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ops, setBackend, tidy, valueAndGrads, type Backend, type Tensor } from '@karakoram/core';
import { createCpuBackend } from '@karakoram/backend-cpu';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { Muon } from '@karakoram/optim-muon';
import { createWebGpuBackend, type WebGpuBackend } from '../src/index.js';
import { withAdapter } from './adapter.js';

const B = 2;
const T = 8;
const IDS = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 5) % 64);
const TARGETS = Int32Array.from({ length: B * T }, (_, i) => (i * 11 + 3) % 64);

/** max |a - b| / max(1e-12, max |b|): the relative error of a whole tensor. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let m = 1e-12;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

withAdapter('model on webgpu', () => {
  let cpu: Backend;
  let gpu: WebGpuBackend;
  let onCpu: DeepseekV3ForCausalLM;
  let onGpu: DeepseekV3ForCausalLM;

  /** A copy of `m`'s weights as a model on `be` (through host arrays and ops.tensor). */
  async function copyTo(m: DeepseekV3ForCausalLM, be: Backend): Promise<DeepseekV3ForCausalLM> {
    setBackend(be);
    const copy = new DeepseekV3ForCausalLM(m.config, { seed: 99 });
    const state = new Map<string, Tensor>();
    for (const [name, t] of m.stateDict()) state.set(name, ops.tensor(await t.data(), t.shape, t.dtype, be));
    copy.loadStateDict(state);
    for (const t of state.values()) t.dispose();
    return copy;
  }

  beforeAll(async () => {
    cpu = await createCpuBackend();
    gpu = await createWebGpuBackend({ autotune: false }); // the rule of thumb: the tuned choice is timed in kernels.test.ts
    setBackend(cpu);
    onCpu = new DeepseekV3ForCausalLM(preset('tiny'), { seed: 7 });
    onGpu = await copyTo(onCpu, gpu);
  });
  afterAll(async () => {
    onGpu?.dispose();
    onCpu?.dispose();
    await gpu?.destroy();
    setBackend(cpu);
  });

  it("preset 'tiny' logits match the cpu backend within 1e-3", async () => {
    const logits = async (m: DeepseekV3ForCausalLM, be: Backend): Promise<Float32Array> => {
      setBackend(be);
      const l = tidy(() => m.forward(ops.tensor(IDS, [B, T], 'i32', be)));
      const d = (await l.data()) as Float32Array;
      l.dispose();
      return d;
    };
    const want = await logits(onCpu, cpu);
    const got = await logits(onGpu, gpu);
    const diff = maxAbs(got, want);
    console.log(`tiny logits [${B}, ${T}, 64]: max |webgpu - cpu| = ${diff.toExponential(2)} (max |logit| ${Math.max(...Array.from(want, Math.abs)).toFixed(3)})`);
    expect(diff).toBeLessThan(1e-3);
  });

  it('one training step (valueAndGrads + Muon) agrees within 1e-3 relative', async () => {
    const step = async (m: DeepseekV3ForCausalLM, be: Backend) => {
      setBackend(be);
      const opt = new Muon(m, { lr: 0.02 });
      const ids = ops.tensor(IDS, [B, T], 'i32', be);
      const targets = ops.tensor(TARGETS, [B, T], 'i32', be);
      const { value, grads } = valueAndGrads(() => m.loss(ids, targets), opt.params);
      const loss = (await value.data())[0]!;
      const g = await Promise.all(grads.map(async (t) => (await t.data()) as Float32Array));
      opt.step(grads);
      for (const t of [value, ...grads, ids, targets]) t.dispose();
      const after = await Promise.all(opt.params.map(async (t) => (await t.data()) as Float32Array));
      const names = [...opt.names];
      opt.dispose();
      return { loss, g, after, names };
    };
    const want = await step(onCpu, cpu);
    const got = await step(onGpu, gpu);
    const lossErr = Math.abs(got.loss - want.loss) / Math.abs(want.loss);
    let gradWorst = 0;
    let gradWorstName = '';
    let paramWorst = 0;
    let paramWorstName = '';
    want.names.forEach((name, i) => {
      const ge = relErr(got.g[i]!, want.g[i]!);
      if (ge > gradWorst) [gradWorst, gradWorstName] = [ge, name];
      const pe = relErr(got.after[i]!, want.after[i]!);
      if (pe > paramWorst) [paramWorst, paramWorstName] = [pe, name];
    });
    console.log(`training step: loss ${want.loss.toFixed(6)} (cpu) vs ${got.loss.toFixed(6)} (webgpu), rel ${lossErr.toExponential(2)}; ` +
      `worst gradient rel err ${gradWorst.toExponential(2)} (${gradWorstName}); worst updated-parameter rel err ${paramWorst.toExponential(2)} (${paramWorstName})`);
    expect(lossErr).toBeLessThan(1e-3);
    expect(gradWorst).toBeLessThan(1e-3);
    expect(paramWorst).toBeLessThan(1e-3);
  });

  it('greedy generation (generateAsync) gives the cpu tokens', async () => {
    setBackend(cpu);
    const want = onCpu.generate([[1, 2, 3], [4, 5]], { maxNewTokens: 4 });
    setBackend(gpu);
    const got = await onGpu.generateAsync([[1, 2, 3], [4, 5]], { maxNewTokens: 4 });
    expect(got.tokens).toEqual(want.tokens);
  });
});
