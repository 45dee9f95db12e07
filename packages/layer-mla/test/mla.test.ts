import { beforeAll, describe, expect, it } from 'vitest';
import { ops, setBackend, tidy, valueAndGrads, type Tensor } from '@karakoram/core';
import { createCpuBackend } from '@karakoram/backend-cpu';
import { MLA, MHA, Rope, applyRope, ropeInvFreq, softmaxScale, type MlaConfig } from '../src/index.js';
import { f64, invFreq64, maxAbsDiff, mla64, rope64, weightsOf } from './reference.js';

beforeAll(async () => {
  setBackend(await createCpuBackend());
});

const yarn = { type: 'yarn', factor: 40, original_max_position_embeddings: 64, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 };

function cfg(over: Partial<MlaConfig> = {}): MlaConfig {
  return {
    hidden_size: 16, num_attention_heads: 3, q_lora_rank: 8, kv_lora_rank: 6,
    qk_nope_head_dim: 4, qk_rope_head_dim: 4, v_head_dim: 5, rope_theta: 10000, rope_scaling: null,
    rms_norm_eps: 1e-6, initializer_range: 0.3, ...over,
  };
}

const randomX = (B: number, T: number, D: number, seed: number): Tensor => ops.randomNormal([B, T, D], seed);

describe('MLA', () => {
  it('has the HF parameter names, shapes and roles', () => {
    const m = new MLA(cfg(), { seed: 1 });
    const names = m.namedParameters().map((p) => [p.name, p.tensor.shape.join('x'), p.role]);
    expect(names).toEqual([
      ['q_a_proj.weight', '8x16', 'matrix'], ['q_a_layernorm.weight', '8', 'norm'], ['q_b_proj.weight', '24x8', 'matrix'],
      ['kv_a_proj_with_mqa.weight', '10x16', 'matrix'], ['kv_a_layernorm.weight', '6', 'norm'], ['kv_b_proj.weight', '27x6', 'matrix'],
      ['o_proj.weight', '16x15', 'matrix'],
    ]);
    const noLora = new MLA(cfg({ q_lora_rank: null }), { seed: 1 });
    expect(noLora.namedParameters().map((p) => p.name)).toEqual(['q_proj.weight', 'kv_a_proj_with_mqa.weight', 'kv_a_layernorm.weight', 'kv_b_proj.weight', 'o_proj.weight']);
    // deterministic from the seed, different across seeds
    expect([...new MLA(cfg(), { seed: 1 }).o_proj.weight.dataSync()]).toEqual([...m.o_proj.weight.dataSync()]);
    expect([...new MLA(cfg(), { seed: 2 }).o_proj.weight.dataSync()]).not.toEqual([...m.o_proj.weight.dataSync()]);
  });

  for (const [label, c] of [
    ['q_lora', cfg()],
    ['no q_lora', cfg({ q_lora_rank: null })],
    ['q_lora + YaRN', cfg({ rope_scaling: yarn })],
  ] as const) {
    it(`forward matches a float64 reference, and absorbed matches forward (${label})`, () => {
      const m = new MLA(c, { seed: 7 });
      const B = 2, T = 6;
      tidy(() => {
        const x = randomX(B, T, c.hidden_size, 3);
        const full = m.forward(x, { recordMaxLogits: true });
        const freq = invFreq64(c.qk_rope_head_dim, c.rope_theta, c.rope_scaling ? { ...yarn } : undefined);
        const ref = mla64(c, weightsOf(m), f64(x), B, T, m.scale, freq);
        expect(maxAbsDiff(full.dataSync(), ref.out)).toBeLessThan(1e-5);
        expect(maxAbsDiff(m.lastMaxLogits()!, ref.maxLogits)).toBeLessThan(1e-5);
        const cache = m.createCache();
        const abs = m.forwardAbsorbed(x, cache);
        expect(maxAbsDiff(abs.dataSync(), full.dataSync())).toBeLessThan(1e-4);
        expect(cache.length).toBe(T);
        cache.dispose();
      });
    });
  }

  it('incremental decoding (prefill, then one token at a time) equals the full forward', () => {
    const c = cfg({ rope_scaling: yarn });
    const m = new MLA(c, { seed: 11 });
    const B = 2, T = 7, P = 3;
    tidy(() => {
      const x = randomX(B, T, c.hidden_size, 5);
      const full = m.forward(x).dataSync();
      const cache = m.createCache();
      const parts = [m.forwardAbsorbed(ops.slice(x, [0, 0, 0], [B, P, c.hidden_size]), cache)];
      for (let t = P; t < T; t++) parts.push(m.forwardAbsorbed(ops.slice(x, [0, t, 0], [B, 1, c.hidden_size]), cache));
      const inc = ops.concat(parts, 1).dataSync();
      expect(maxAbsDiff(inc, full)).toBeLessThan(1e-4);
      expect(cache.length).toBe(T);
      // the cache holds kv_lora_rank + qk_rope_head_dim numbers per token (and row)
      expect(cache.numbersPerToken).toBe(c.kv_lora_rank + c.qk_rope_head_dim);
      expect(cache.bytesPerToken).toBe(4 * (c.kv_lora_rank + c.qk_rope_head_dim));
      expect(cache.latent!.size + cache.rope!.size).toBe(B * T * (c.kv_lora_rank + c.qk_rope_head_dim));
      cache.dispose();
    });
  });

  it('forward with a positionOffset: RoPE is relative, so a chunk gives the same output at any offset', () => {
    const c = cfg({ q_lora_rank: null });
    const m = new MLA(c, { seed: 2 });
    tidy(() => {
      const x = randomX(2, 5, c.hidden_size, 9);
      const a = m.forward(x, { positionOffset: 37 }).dataSync();
      const b = m.forward(x).dataSync();
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-4);
      // while the rotated queries themselves do differ with the offset
      const rope = m.rope;
      const q = ops.randomNormal([1, 1, 5, c.qk_rope_head_dim], 1);
      expect(maxAbsDiff(applyRope(q, rope.tables({ batch: 1, length: 5, offset: 37 })).dataSync(), applyRope(q, rope.tables({ batch: 1, length: 5, offset: 0 })).dataSync())).toBeGreaterThan(1e-2);
    });
  });

  it('RoPE rotates adjacent pairs exactly as the float64 formula (plain and YaRN)', () => {
    for (const scaling of [null, { type: 'yarn', factor: 32, original_max_position_embeddings: 4096, beta_fast: 1, beta_slow: 1, mscale: 1, mscale_all_dim: 1 }]) {
      const d = 64, base = 50000;
      const freq = invFreq64(d, base, scaling ?? undefined);
      expect(maxAbsDiff(ropeInvFreq(d, base, scaling), freq)).toBeLessThan(1e-15);
      const rope = new Rope(d, base, scaling);
      tidy(() => {
        const T = 5, offset = 3000;
        const x = ops.randomNormal([1, 2, T, d], 4);
        const got = applyRope(x, rope.tables({ batch: 1, length: T, offset })).dataSync();
        const ref = f64(x);
        for (let h = 0; h < 2; h++) for (let t = 0; t < T; t++) rope64(ref, (h * T + t) * d, d, offset + t, freq);
        expect(maxAbsDiff(got, ref)).toBeLessThan(2e-5);
      });
    }
    // YaRN actually changes the low frequencies and keeps the high ones
    const plain = ropeInvFreq(64, 50000, null);
    const y = ropeInvFreq(64, 50000, { factor: 32, original_max_position_embeddings: 4096, beta_fast: 1, beta_slow: 1 });
    expect(y[0]).toBe(plain[0]);
    expect(y[31]! / plain[31]!).toBeCloseTo(1 / 32, 12);
  });

  it('softmax scale: (nope+rope)^-0.5, times mscale² under YaRN', () => {
    expect(softmaxScale(192, null)).toBeCloseTo(192 ** -0.5, 12);
    const m = 0.1 * 1 * Math.log(32) + 1;
    expect(softmaxScale(192, { factor: 32, original_max_position_embeddings: 4096, mscale_all_dim: 1 })).toBeCloseTo(192 ** -0.5 * m * m, 12);
    expect(softmaxScale(192, { factor: 32, original_max_position_embeddings: 4096, mscale_all_dim: 0 })).toBeCloseTo(192 ** -0.5, 12);
  });

  it('gradients match finite differences of the float64 reference', () => {
    const c = cfg({ num_attention_heads: 2, hidden_size: 8, q_lora_rank: 6, kv_lora_rank: 4, rope_scaling: yarn });
    const m = new MLA(c, { seed: 3 });
    const B = 1, T = 4;
    const x = ops.randomNormal([B, T, c.hidden_size], 8);
    const probe = ops.randomNormal([B, T, c.hidden_size], 9);
    const params = m.namedParameters();
    const { grads } = valueAndGrads(() => ops.sum(ops.mul(m.forward(x), probe)), params.map((p) => p.tensor));
    const freq = invFreq64(c.qk_rope_head_dim, c.rope_theta, { ...yarn });
    const x64 = f64(x), p64 = f64(probe);
    const loss64 = (w: Map<string, Float64Array>): number => {
      const o = mla64(c, w, x64, B, T, m.scale, freq).out;
      return o.reduce((s, v, i) => s + v * p64[i]!, 0);
    };
    let checked = 0;
    params.forEach((p, pi) => {
      const g = grads[pi]!.dataSync();
      for (const idx of [0, Math.floor(p.tensor.size / 2), p.tensor.size - 1]) {
        const eps = 1e-6;
        const w = weightsOf(m);
        const base = w.get(p.name)![idx]!;
        w.get(p.name)![idx] = base + eps;
        const up = loss64(w);
        w.get(p.name)![idx] = base - eps;
        const down = loss64(w);
        const fd = (up - down) / (2 * eps);
        expect(Math.abs(g[idx]! - fd)).toBeLessThan(1e-4 + 1e-3 * Math.abs(fd));
        checked++;
      }
    });
    expect(checked).toBe(21);
  });

  it('max logits are kept across tidy scopes and replaced without leaking', () => {
    const backend = ops.zeros([1]).backend;
    const m = new MLA(cfg(), { seed: 4 });
    const x = randomX(1, 3, 16, 1);
    tidy(() => { m.forward(x, { recordMaxLogits: true }); });
    const before = backend.memory().buffers;
    for (let i = 0; i < 3; i++) tidy(() => { m.forward(x, { recordMaxLogits: true }); });
    expect(backend.memory().buffers).toBe(before);
    expect(m.lastMaxLogits()!.length).toBe(3);
    m.resetMaxLogits();
    expect(m.lastMaxLogits()).toBeUndefined();
  });

  it('headRows: q_nope and k_nope rows by sqrt(gamma), q_rope rows by gamma', () => {
    const m = new MLA(cfg(), { seed: 1 });
    const r = m.headRows(1);
    expect(r.sqrtGamma.map((x) => [x.name, x.start, x.end])).toEqual([['q_b_proj.weight', 8, 12], ['kv_b_proj.weight', 9, 13]]);
    expect(r.gamma.map((x) => [x.name, x.start, x.end])).toEqual([['q_b_proj.weight', 12, 16]]);
    expect(r.sqrtGamma[0]!.param).toBe(m.q_b_proj!.weight);
    const n = new MLA(cfg({ q_lora_rank: null }), { seed: 1 }).headRows(2);
    expect(n.gamma[0]!.name).toBe('q_proj.weight');
    expect([n.gamma[0]!.start, n.gamma[0]!.end]).toEqual([20, 24]);
  });
});

describe('MHA', () => {
  it('max logits equal a direct float64 recomputation; plain clip rows', () => {
    const c = { hidden_size: 8, num_attention_heads: 2, rope_theta: 10000, initializer_range: 0.5 };
    const m = new MHA(c, { seed: 5 });
    const B = 2, T = 4, d = 4;
    tidy(() => {
      const x = ops.randomNormal([B, T, 8], 6);
      m.forward(x, { recordMaxLogits: true });
      const x64 = f64(x);
      const w = (n: string): Float64Array => f64(m.stateDict().get(n)!);
      const lin = (W: Float64Array): Float64Array => {
        const y = new Float64Array(B * T * 8);
        for (let i = 0; i < B * T; i++) for (let o = 0; o < 8; o++) for (let k = 0; k < 8; k++) y[i * 8 + o] += x64[i * 8 + k]! * W[o * 8 + k]!;
        return y;
      };
      const q = lin(w('q_proj.weight')), k = lin(w('k_proj.weight'));
      const freq = invFreq64(d, 10000);
      for (let i = 0; i < B * T; i++) for (let h = 0; h < 2; h++) { rope64(q, i * 8 + h * d, d, i % T, freq); rope64(k, i * 8 + h * d, d, i % T, freq); }
      const ref = [-Infinity, -Infinity];
      for (let b = 0; b < B; b++) for (let h = 0; h < 2; h++) for (let t = 0; t < T; t++) for (let j = 0; j <= t; j++) {
        let s = 0;
        for (let e = 0; e < d; e++) s += q[(b * T + t) * 8 + h * d + e]! * k[(b * T + j) * 8 + h * d + e]!;
        ref[h] = Math.max(ref[h]!, s / Math.sqrt(d));
      }
      expect(maxAbsDiff(m.lastMaxLogits()!, ref)).toBeLessThan(1e-5);
    });
    const r = m.headRows(1);
    expect(r.sqrtGamma.map((x) => [x.name, x.start, x.end])).toEqual([['q_proj.weight', 4, 8], ['k_proj.weight', 4, 8]]);
    expect(r.gamma).toEqual([]);
  });
});
