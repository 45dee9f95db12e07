import { beforeAll, describe, expect, it } from 'vitest';
import { MismatchError, Module, getBackend, ops, setBackend, valueAndGrads, type Tensor } from '@karakoram/core';
import { createCpuBackend } from '@karakoram/backend-cpu';
import { Muon, auxLossFreeBiasUpdate } from '../src/index.js';
import { bitsOf, lin, maxRelErr, ns5Ref, randMat, scale, type Mat } from './ref.js';
import { Tiny } from './fixtures.js';

beforeAll(async () => {
  setBackend(await createCpuBackend());
});

class Params extends Module {
  constructor(spec: { name: string; value: number[] | Mat; role: 'matrix' | 'embedding' | 'head' | 'norm' | 'bias' | 'buffer' }[]) {
    super();
    for (const s of spec) this.param(s.name, ops.tensor(s.value as number[]), s.role);
  }
}

const f32 = (m: Mat): Mat => m.map((r) => r.map(Math.fround));

describe('Muon routing', () => {
  it('routes by role: matrix -> Muon, embedding/head/norm/bias -> AdamW, buffer -> skipped', () => {
    const m = new Tiny();
    const opt = new Muon(m, { lr: 0.01 });
    const routes = Object.fromEntries(opt.routes().map((r) => [r.name, r.route]));
    expect(routes).toEqual({
      'embed_tokens.weight': 'adamw',
      'mlp.up_proj.weight': 'muon',
      'mlp.down_proj.weight': 'muon',
      'norm.weight': 'adamw',
      'mlp.up_proj.bias': 'adamw',
      'lm_head.weight': 'adamw',
      'gate.e_score_correction_bias': 'none',
    });
    expect(opt.params).not.toContain(m.routerBias);
    expect(opt.params.length).toBe(6);
    opt.dispose();
    m.dispose();
  });

  it('name patterns (globs and /regex/) override the role rule; bad patterns are refused', () => {
    const m = new Tiny();
    const opt = new Muon(m, { lr: 0.01, adamw: ['mlp.down_*'], muon: ['/^lm_head\\./'] });
    const routes = Object.fromEntries(opt.routes().map((r) => [r.name, r.route]));
    expect(routes['mlp.down_proj.weight']).toBe('adamw');
    expect(routes['lm_head.weight']).toBe('muon');
    expect(routes['mlp.up_proj.weight']).toBe('muon');
    opt.dispose();
    expect(() => new Muon(m, { lr: 0.01, muon: ['mlp.*'], adamw: ['*.weight'] })).toThrow(/both a muon and an adamw/);
    expect(() => new Muon(m, { lr: 0.01, muon: ['norm.weight'] })).toThrow(/rank 1/);
    expect(() => new Muon(m, { lr: 0.01, adamw: ['gate.*'] })).toThrow(/buffer/);
    expect(() => new Muon(m, { lr: 0.01, adamw: ['nothing.here'] })).toThrow(/matches no trainable parameter/);
    expect(() => new Muon(m, { lr: -1 })).toThrow(/lr must be/);
    m.dispose();
  });
});

describe('Muon step against float64', () => {
  for (const nesterov of [true, false]) {
    it(`two steps on a wide and a tall matrix (nesterov ${nesterov})`, () => {
      const W0 = { a: randMat(3, 5, 1), b: randMat(5, 2, 2) };
      const G = [
        { a: randMat(3, 5, 3, 0.1), b: randMat(5, 2, 4, 0.1) },
        { a: randMat(3, 5, 5, 0.1), b: randMat(5, 2, 6, 0.1) },
      ];
      const m = new Params([
        { name: 'a.weight', value: W0.a, role: 'matrix' },
        { name: 'b.weight', value: W0.b, role: 'matrix' },
      ]);
      const lr = 0.02;
      const mu = 0.95;
      const wd = 0.1;
      const opt = new Muon(m, { lr: 0.5, nesterov });
      const [pa, pb] = opt.params as [Tensor, Tensor];
      const expected = { ...W0 };
      const M = { a: scale(W0.a, 0), b: scale(W0.b, 0) };
      for (const g of G) {
        const ga = ops.tensor(g.a);
        const gb = ops.tensor(g.b);
        opt.step([ga, gb], lr);
        ga.dispose();
        gb.dispose();
        for (const k of ['a', 'b'] as const) {
          M[k] = lin(M[k], g[k], mu, 1);
          const gEff = nesterov ? lin(g[k], M[k], 1, mu) : M[k];
          const O = ns5Ref(gEff);
          const rows = W0[k].length;
          const cols = W0[k][0]!.length;
          expected[k] = lin(expected[k], O, 1 - lr * wd, -lr * 0.2 * Math.sqrt(Math.max(rows, cols)));
        }
      }
      expect(maxRelErr(pa.dataSync(), expected.a.flat())).toBeLessThan(1e-5);
      expect(maxRelErr(pb.dataSync(), expected.b.flat())).toBeLessThan(1e-5);
      const st = opt.stateDict();
      expect(maxRelErr(st.get('a.weight.momentum_buffer')!.dataSync(), M.a.flat())).toBeLessThan(1e-6);
      expect(st.get('step')!.dataSync()[0]).toBe(2);
      // The update is not negligible: the test would see a wrong scale or sign.
      expect(maxRelErr(pa.dataSync(), W0.a.flat())).toBeGreaterThan(1e-2);
      opt.dispose();
      m.dispose();
    });
  }
});

describe('AdamW step against float64', () => {
  it('three steps with a changing lr follow the Moonlight AdamW form exactly', () => {
    const w0 = [0.5, -1.25, 2, 0.01, -0.3].map(Math.fround);
    const b0 = [0.1, 0.2, -0.3].map(Math.fround);
    const m = new Params([
      { name: 'norm.weight', value: w0, role: 'norm' },
      { name: 'proj.bias', value: b0, role: 'bias' },
    ]);
    const opt = new Muon(m, { lr: 1, weightDecay: 0.2, adamBetas: [0.8, 0.9], adamEps: 1e-3 });
    const grads = [
      [[0.3, -0.1, 0.0, 2.0, -0.7], [1, -1, 0.5]],
      [[-0.2, 0.4, 0.1, 1.0, -0.5], [0.2, 0.3, -0.4]],
      [[0.05, 0.05, -0.6, 0.0, 0.9], [-1, 0, 0.25]],
    ].map((gs) => gs.map((g) => g.map(Math.fround)));
    const lrs = [0.1, 0.05, 0.02];
    const [b1, b2, eps, wd] = [0.8, 0.9, 1e-3, 0.2];
    const exp = [w0.slice(), b0.slice()];
    const mm = [w0.map(() => 0), b0.map(() => 0)];
    const vv = [w0.map(() => 0), b0.map(() => 0)];
    grads.forEach((gs, t0) => {
      const t = t0 + 1;
      const lr = lrs[t0]!;
      const ts = gs.map((g) => ops.tensor(g));
      const info = opt.step(new Map(ts.map((g, i) => [opt.params[i]!, g])), lr);
      expect(info).toEqual({ step: t, lr });
      ts.forEach((g) => g.dispose());
      gs.forEach((g, p) => {
        g.forEach((gi, i) => {
          mm[p]![i] = b1 * mm[p]![i]! + (1 - b1) * gi;
          vv[p]![i] = b2 * vv[p]![i]! + (1 - b2) * gi * gi;
          exp[p]![i] = exp[p]![i]! * (1 - lr * wd);
          exp[p]![i] = exp[p]![i]! - lr * (mm[p]![i]! / (eps + Math.sqrt(vv[p]![i]!))) * (Math.sqrt(1 - b2 ** t) / (1 - b1 ** t));
        });
      });
    });
    expect(maxRelErr(opt.params[0]!.dataSync(), exp[0]!)).toBeLessThan(1e-6);
    expect(maxRelErr(opt.params[1]!.dataSync(), exp[1]!)).toBeLessThan(1e-6);
    const st = opt.stateDict();
    expect(maxRelErr(st.get('norm.weight.exp_avg_sq')!.dataSync(), vv[0]!)).toBeLessThan(1e-6);
    expect(st.get('proj.bias.step')!.dataSync()[0]).toBe(3);
    opt.dispose();
    m.dispose();
  });

  it('a parameter missing from the gradient map is left alone, its step count included', () => {
    const m = new Params([
      { name: 'n.weight', value: [1, 2], role: 'norm' },
      { name: 'b.bias', value: [3, 4], role: 'bias' },
    ]);
    const opt = new Muon(m, { lr: 0.1 });
    const g = ops.tensor([0.5, -0.5]);
    opt.step(new Map([[opt.params[0]!, g]]));
    expect([...opt.params[1]!.dataSync()]).toEqual([3, 4]);
    expect(opt.stateDict().get('b.bias.step')!.dataSync()[0]).toBe(0);
    expect(opt.stateDict().get('n.weight.step')!.dataSync()[0]).toBe(1);
    expect(() => opt.step([g])).toThrow(/expected 2/);
    expect(() => opt.step(new Map([[g, g]]))).toThrow(/not a trained parameter/);
    g.dispose();
    opt.dispose();
    m.dispose();
  });

  it('param groups scale the lr and replace the weight decay by name', () => {
    const spec = [
      { name: 'x.bias', value: [1, 1], role: 'bias' as const },
      { name: 'y.bias', value: [1, 1], role: 'bias' as const },
    ];
    const m = new Params(spec);
    const opt = new Muon(m, { lr: 0.1, weightDecay: 0, groups: [{ match: ['y.*'], lrScale: 0.5, weightDecay: 1 }] });
    const g = ops.tensor([0, 0]);
    opt.step([g, g]);
    expect([...opt.params[0]!.dataSync()]).toEqual([1, 1]); // no decay, zero gradient
    expect(opt.params[1]!.dataSync()[0]).toBeCloseTo(1 - 0.05 * 1, 7); // lr 0.05, wd 1
    g.dispose();
    opt.dispose();
    m.dispose();
  });
});

/** Serializes a state dict to plain arrays and back, as a checkpoint on disk would. */
function roundTrip(state: Map<string, Tensor>): Map<string, Tensor> {
  return new Map([...state].map(([k, t]) => [k, ops.tensor(t.dataSync().slice(), t.shape, t.dtype)]));
}

function train(model: Tiny, opt: Muon, steps: number, from: number): void {
  for (let s = from; s < from + steps; s++) {
    const { value, grads } = valueAndGrads(() => {
      const tokens = ops.tensor([(s * 3) % 11, (s * 5 + 1) % 11, 7, 2, (s + 4) % 11, 9], [2, 3], 'i32');
      const targets = ops.tensor([1, 4, (s * 7) % 11, 3, 10, s % 11], [2, 3], 'i32');
      return model.loss(tokens, targets);
    }, opt.params);
    const lr = 0.02 * (1 - s / 10); // a schedule: the lr changes every step
    opt.step(grads, lr);
    value.dispose();
    grads.forEach((g) => g.dispose());
  }
}

describe('state dict', () => {
  for (const nsDtype of ['f32', 'bf16'] as const) {
    it(`3 steps + save + load into a new optimizer + 2 steps == 5 steps, bit for bit (ns ${nsDtype})`, async () => {
      const a = new Tiny();
      const optA = new Muon(a, { lr: 0.02, nsDtype });
      train(a, optA, 5, 0);

      const b = new Tiny();
      const optB = new Muon(b, { lr: 0.02, nsDtype });
      train(b, optB, 3, 0);
      const saved = roundTrip(optB.stateDict());
      const savedModel = roundTrip(b.stateDict());
      optB.dispose();
      b.dispose();

      const c = new Tiny(11, 6, 10, 99); // different init: everything must come from the checkpoint
      c.loadStateDict(savedModel);
      const optC = new Muon(c, { lr: 0.02, nsDtype });
      await optC.loadStateDict(saved);
      expect(optC.stepCount).toBe(3);
      train(c, optC, 2, 3);

      for (const [name, t] of a.stateDict()) {
        const want = bitsOf(t.dataSync());
        const got = bitsOf(c.stateDict().get(name)!.dataSync());
        expect([...got], name).toEqual([...want]);
      }
      for (const [name, t] of optA.stateDict()) {
        expect([...bitsOf(optC.stateDict().get(name)!.dataSync())], name).toEqual([...bitsOf(t.dataSync())]);
      }

      // Control: resuming without the optimizer state does not give the same weights.
      const d = new Tiny(11, 6, 10, 99);
      d.loadStateDict(savedModel);
      const optD = new Muon(d, { lr: 0.02, nsDtype });
      train(d, optD, 2, 3);
      expect([...bitsOf(d.w1.dataSync())]).not.toEqual([...bitsOf(a.w1.dataSync())]);
      for (const o of [optA, optC, optD]) o.dispose();
      for (const m of [a, c, d]) m.dispose();
      for (const t of saved.values()) t.dispose();
    });
  }

  it('refuses a mismatched state dict whole, listing every problem', async () => {
    const a = new Tiny();
    const opt = new Muon(a, { lr: 0.02 });
    const st = roundTrip(opt.stateDict());
    st.delete('mlp.up_proj.weight.momentum_buffer');
    st.set('norm.weight.exp_avg', ops.zeros([7]));
    st.set('bogus', ops.zeros([1]));
    const err = await opt.loadStateDict(st).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MismatchError);
    expect((err as MismatchError).problems).toEqual([
      'missing mlp.up_proj.weight.momentum_buffer [10, 6]',
      'wrong shape for norm.weight.exp_avg: [7], expected [6]',
      'unexpected bogus',
    ]);
    expect(opt.stepCount).toBe(0);
    opt.dispose();
    a.dispose();
  });
});

describe('memory', () => {
  it('steps leak nothing: live buffers stay constant across steps', () => {
    const be = getBackend();
    const a = new Tiny();
    const opt = new Muon(a, { lr: 0.02, nsDtype: 'bf16' });
    train(a, opt, 1, 0);
    const before = be.memory().buffers;
    train(a, opt, 3, 1);
    expect(be.memory().buffers).toBe(before);
    const stateCount = opt.stateDict().size;
    opt.dispose();
    expect(be.memory().buffers).toBe(before - stateCount);
    a.dispose();
  });
});

describe('auxLossFreeBiasUpdate', () => {
  it('moves the bias by u * sign(mean load - load)', () => {
    const bias = ops.tensor([0.5, 0.5, 0.5, 0.5]);
    const load = ops.tensor([3, 1, 2, 2], [4], 'i32');
    auxLossFreeBiasUpdate(bias, load, 0.001);
    const u = Math.fround(0.001);
    expect([...bias.dataSync()]).toEqual([0.5 - u, 0.5 + u, 0.5, 0.5].map(Math.fround));
    bias.dispose();
    load.dispose();
  });
});
