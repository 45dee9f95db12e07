import { beforeAll, describe, expect, it } from 'vitest';
import { ops, setBackend, tidy, valueAndGrads, type Tensor } from '@karakoram/core';
import { createCpuBackend } from '@karakoram/backend-cpu';
import { MoE, Mlp, selectExperts, type MoeConfig } from '../src/index.js';

beforeAll(async () => {
  setBackend(await createCpuBackend());
});

function cfg(over: Partial<MoeConfig> = {}): MoeConfig {
  return {
    hidden_size: 8, moe_intermediate_size: 6, n_routed_experts: 8, num_experts_per_tok: 2, n_shared_experts: 1,
    routed_scaling_factor: 2.5, scoring_func: 'sigmoid', topk_method: 'noaux_tc', n_group: 1, topk_group: 1,
    norm_topk_prob: true, aux_loss_alpha: 0.01, initializer_range: 0.4, ...over,
  };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const rows = (t: Tensor): number[][] => t.arraySync() as number[][];

describe('MoE', () => {
  it('has the HF parameter names and roles', () => {
    const m = new MoE(cfg({ n_routed_experts: 2, num_experts_per_tok: 1, n_shared_experts: 2 }), { seed: 1 });
    const got = m.namedParameters().map((p) => `${p.name} ${p.tensor.shape.join('x')} ${p.role}`);
    const expert = (e: number) => [`experts.${e}.gate_proj.weight 6x8 matrix`, `experts.${e}.up_proj.weight 6x8 matrix`, `experts.${e}.down_proj.weight 8x6 matrix`];
    expect(got).toEqual([
      'gate.weight 2x8 matrix', 'gate.e_score_correction_bias 2 buffer', ...expert(0), ...expert(1),
      'shared_experts.gate_proj.weight 12x8 matrix', 'shared_experts.up_proj.weight 12x8 matrix', 'shared_experts.down_proj.weight 8x12 matrix',
    ]);
    expect(new MoE(cfg({ topk_method: 'greedy', scoring_func: 'softmax' })).namedParameters().some((p) => p.name.includes('bias'))).toBe(false);
    expect(m.parameters().length).toBe(m.namedParameters().length - 1); // the bias is not trained by gradient
  });

  for (const over of [{}, { n_group: 4, topk_group: 2, num_experts_per_tok: 3 }, { scoring_func: 'softmax', topk_method: 'greedy', norm_topk_prob: false, n_shared_experts: null }] as Partial<MoeConfig>[]) {
    it(`grouped dispatch equals a dense reference running every expert on every token (${JSON.stringify(over)})`, () => {
      const c = cfg(over);
      const m = new MoE(c, { seed: 3 });
      tidy(() => {
        const x = ops.randomNormal([2, 5, 8], 4);
        const got = m.forward(x).output;
        const flat = ops.reshape(x, [10, 8]);
        const { indices, weights } = m.gate.route(flat);
        // dense [N, E] weights: zero for unchosen experts
        const E = c.n_routed_experts!, K = c.num_experts_per_tok!;
        const base = ops.mul(ops.reshape(ops.arange(10), [10, 1]), E);
        const dense = ops.reshape(ops.scatterAdd([10 * E], ops.reshape(ops.add(indices, base), [10 * K]), ops.reshape(weights, [10 * K]), 0), [10, E]);
        let ref = c.n_shared_experts ? m.shared_experts!.forward(flat) : ops.zeros([10, 8]);
        for (let e = 0; e < E; e++) ref = ops.add(ref, ops.mul(m.experts.list[e]!.forward(flat), ops.slice(dense, [0, e], [10, 1])));
        expect(maxAbsDiff(got.dataSync(), ref.dataSync())).toBeLessThan(1e-5);
        expect(got.shape).toEqual([2, 5, 8]);
      });
    });
  }

  it('routing follows the group-limited noaux_tc rule on hand-made scores', () => {
    // 8 experts in 4 groups of 2; keep 2 groups, take 3 experts.
    const c = { n_routed_experts: 8, num_experts_per_tok: 3, topk_method: 'noaux_tc', n_group: 4, topk_group: 2, norm_topk_prob: true, routed_scaling_factor: 2 } as const;
    tidy(() => {
      // group sums of top-2: g0 .9+.0=.9, g1 .5+.5=1.0, g2 .8+.3=1.1, g3 .1+.1=.2 → keep g2, g1
      // the best single expert (0.9, group 0) is excluded by the group limit.
      const s = ops.tensor([[0.9, 0.0, 0.5, 0.5, 0.8, 0.3, 0.1, 0.1]]);
      const { indices, weights } = selectExperts(s, ops.zeros([8]), c);
      expect(rows(indices)[0]).toEqual([4, 2, 3]);
      const w = rows(weights)[0]!;
      const sum = 0.8 + 0.5 + 0.5;
      expect(w[0]).toBeCloseTo((0.8 / sum) * 2, 6);
      expect(w[1]).toBeCloseTo((0.5 / sum) * 2, 6);
      expect(w.reduce((a, b) => a + b)).toBeCloseTo(2, 6);
      // group_limited_greedy ranks groups by their max: g0 .9, g2 .8 → experts 0, 4, 5
      const g = selectExperts(s, undefined, { ...c, topk_method: 'group_limited_greedy' });
      expect(rows(g.indices)[0]).toEqual([0, 4, 5]);
      // plain greedy ignores groups
      expect(rows(selectExperts(s, undefined, { ...c, topk_method: 'greedy' }).indices)[0]).toEqual([0, 4, 2]);
    });
  });

  it('the bias changes the selection but not the weights', () => {
    const c = { n_routed_experts: 4, num_experts_per_tok: 2, topk_method: 'noaux_tc', n_group: 1, topk_group: 1, norm_topk_prob: true, routed_scaling_factor: 1 } as const;
    tidy(() => {
      const s = ops.tensor([[0.9, 0.7, 0.6, 0.1]]);
      expect(rows(selectExperts(s, ops.zeros([4]), c).indices)[0]).toEqual([0, 1]);
      const { indices, weights } = selectExperts(s, ops.tensor([0, 0, 0, 0.85]), c);
      expect(rows(indices)[0]).toEqual([3, 0]); // 0.95 and 0.9
      const w = rows(weights)[0]!;
      expect(w[0]).toBeCloseTo(0.1 / 1.0, 6); // unbiased score 0.1 of expert 3
      expect(w[1]).toBeCloseTo(0.9 / 1.0, 6);
    });
  });

  it('load statistics and the aux-loss-free bias update', () => {
    const c = cfg();
    const m = new MoE(c, { seed: 5 });
    tidy(() => {
      const x = ops.randomNormal([3, 4, 8], 6);
      m.forward(x);
      const idx = m.gate.route(ops.reshape(x, [12, 8])).indices.dataSync();
      const expected = new Array(8).fill(0);
      for (const e of idx) expected[e]++;
      expect([...m.lastLoad()]).toEqual(expected);
      expect([...m.accumulatedLoad()]).toEqual(expected);
      m.forward(x);
      expect([...m.accumulatedLoad()]).toEqual(expected.map((v) => 2 * v));
    });
    m.updateBias(0.01, [3, 1, 2, 2, 0, 4, 2, 2]); // mean 2
    expect([...m.gate.e_score_correction_bias!.dataSync()].map((v) => Math.round(v * 1e6) / 1e6)).toEqual([-0.01, 0.01, 0, 0, 0.01, -0.01, 0, 0]);
    expect([...m.accumulatedLoad()]).toEqual(new Array(8).fill(0));
  });

  it('the sequence-wise balance loss equals the DeepSeek-V3 formula', () => {
    const c = cfg({ aux_loss_alpha: 0.1 });
    const m = new MoE(c, { seed: 8 });
    tidy(() => {
      const B = 2, T = 5, E = 8, K = 2;
      const x = ops.randomNormal([B, T, 8], 2);
      const { auxLoss } = m.forward(x, { auxLoss: true });
      const r = m.gate.route(ops.reshape(x, [B * T, 8]));
      const s = r.scores.dataSync(), idx = r.indices.dataSync();
      let total = 0;
      for (let b = 0; b < B; b++) {
        const f = new Array(E).fill(0), P = new Array(E).fill(0);
        for (let t = 0; t < T; t++) {
          const n = b * T + t;
          let z = 0;
          for (let e = 0; e < E; e++) z += s[n * E + e]!;
          for (let e = 0; e < E; e++) P[e] += s[n * E + e]! / z / T;
          for (let k = 0; k < K; k++) f[idx[n * K + k]!] += E / (K * T);
        }
        total += f.reduce((a, fi, e) => a + fi * P[e], 0) / B;
      }
      expect(auxLoss!.dataSync()[0]).toBeCloseTo(0.1 * total, 6);
    });
  });

  it('gradients (through experts, shared experts and routing weights) match finite differences', () => {
    const c = cfg({ n_routed_experts: 4, num_experts_per_tok: 2, hidden_size: 4, moe_intermediate_size: 3, initializer_range: 0.5 });
    const m = new MoE(c, { seed: 9 });
    const x = ops.randomNormal([1, 3, 4], 10);
    const probe = ops.randomNormal([1, 3, 4], 11);
    const params = m.namedParameters().filter((p) => p.trainable);
    const lossOf = (): Tensor => ops.sum(ops.mul(m.forward(x).output, probe));
    const { grads } = valueAndGrads(lossOf, params.map((p) => p.tensor));
    const gateIdx = params.findIndex((p) => p.name === 'gate.weight');
    expect(maxAbsDiff(grads[gateIdx]!.dataSync(), new Float32Array(16))).toBeGreaterThan(1e-4); // routing weights carry gradient
    let checked = 0;
    for (const [pi, p] of params.entries()) {
      const g = grads[pi]!.dataSync();
      const w0 = Float32Array.from(p.tensor.dataSync());
      for (const i of [0, p.tensor.size - 1]) {
        const eps = 1e-2;
        const at = (d: number): number => tidy(() => {
          const w = Float32Array.from(w0);
          w[i] = w0[i]! + d;
          p.tensor.assign(ops.tensor(w, p.tensor.shape));
          return lossOf().dataSync()[0]!;
        });
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        p.tensor.assign(ops.tensor(w0, p.tensor.shape));
        expect(Math.abs(g[i]! - fd)).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
        checked++;
      }
    }
    expect(checked).toBe(2 * params.length);
  });
});

describe('Mlp', () => {
  it('is SwiGLU: down(silu(gate x) * up x)', () => {
    const m = new Mlp(3, 4, { std: 0.5, seed: 1 });
    tidy(() => {
      const x = ops.randomNormal([2, 3], 1);
      const X = rows(x), G = rows(m.gate_proj.weight), U = rows(m.up_proj.weight), D = rows(m.down_proj.weight);
      const ref = X.map((xr) => {
        const h = G.map((g, j) => {
          const a = g.reduce((s, w, k) => s + w * xr[k]!, 0);
          const u = U[j]!.reduce((s, w, k) => s + w * xr[k]!, 0);
          return (a / (1 + Math.exp(-a))) * u;
        });
        return D.map((d) => d.reduce((s, w, j) => s + w * h[j]!, 0));
      });
      expect(maxAbsDiff(m.forward(x).dataSync(), ref.flat())).toBeLessThan(1e-6);
    });
  });
});
