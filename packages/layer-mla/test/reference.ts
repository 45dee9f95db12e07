/** Float64 reference of MLA (training path), written straight from K2-FACTS.md. */
import type { MLA, MlaConfig } from '../src/index.js';

export const f64 = (t: { dataSync(): ArrayLike<number> }): Float64Array => Float64Array.from(t.dataSync());

/** y [N, out] = x [N, in] · Wᵀ, W [out, in]. */
export function linear64(x: Float64Array, n: number, w: Float64Array, out: number, inF: number): Float64Array {
  const y = new Float64Array(n * out);
  for (let i = 0; i < n; i++) for (let o = 0; o < out; o++) {
    let s = 0;
    for (let k = 0; k < inF; k++) s += x[i * inF + k]! * w[o * inF + k]!;
    y[i * out + o] = s;
  }
  return y;
}

export function rms64(x: Float64Array, n: number, d: number, g: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let k = 0; k < d; k++) ss += x[i * d + k]! ** 2;
    const r = 1 / Math.sqrt(ss / d + eps);
    for (let k = 0; k < d; k++) y[i * d + k] = x[i * d + k]! * r * g[k]!;
  }
  return y;
}

/** Inverse frequencies per K2-FACTS.md (YaRN when scaling is given). */
export function invFreq64(d: number, base: number, s?: { factor: number; original_max_position_embeddings: number; beta_fast: number; beta_slow: number }): number[] {
  const f = Array.from({ length: d / 2 }, (_, i) => base ** (-(2 * i) / d));
  if (!s) return f;
  const corr = (r: number): number => (d * Math.log(s.original_max_position_embeddings / (2 * Math.PI * r))) / (2 * Math.log(base));
  const low = Math.min(Math.max(Math.floor(corr(s.beta_fast)), 0), d - 1);
  let high = Math.min(Math.max(Math.ceil(corr(s.beta_slow)), 0), d - 1);
  if (high === low) high += 0.001;
  return f.map((fi, i) => {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    return (fi / s.factor) * ramp + fi * (1 - ramp);
  });
}

/** Rotates adjacent pairs (x[2i], x[2i+1]) of a d-vector in place by angle pos·freq_i. */
export function rope64(v: Float64Array, off: number, d: number, pos: number, freq: number[]): void {
  for (let i = 0; i < d / 2; i++) {
    const a = pos * freq[i]!;
    const x0 = v[off + 2 * i]!;
    const x1 = v[off + 2 * i + 1]!;
    v[off + 2 * i] = x0 * Math.cos(a) - x1 * Math.sin(a);
    v[off + 2 * i + 1] = x1 * Math.cos(a) + x0 * Math.sin(a);
  }
}

export type Weights = Map<string, Float64Array>;
export const weightsOf = (m: MLA): Weights => new Map([...m.stateDict()].map(([k, t]) => [k, f64(t)]));

/** out [B, T, hidden] and per-head max logits, all in float64. */
export function mla64(cfg: MlaConfig, w: Weights, x: Float64Array, B: number, T: number, scale: number, freq: number[]): { out: Float64Array; maxLogits: number[] } {
  const D = cfg.hidden_size, H = cfg.num_attention_heads, dn = cfg.qk_nope_head_dim, dr = cfg.qk_rope_head_dim, dv = cfg.v_head_dim, r = cfg.kv_lora_rank;
  const N = B * T;
  const qh = dn + dr;
  let q: Float64Array;
  if (cfg.q_lora_rank !== null) {
    const qa = linear64(x, N, w.get('q_a_proj.weight')!, cfg.q_lora_rank, D);
    q = linear64(rms64(qa, N, cfg.q_lora_rank, w.get('q_a_layernorm.weight')!, cfg.rms_norm_eps), N, w.get('q_b_proj.weight')!, H * qh, cfg.q_lora_rank);
  } else q = linear64(x, N, w.get('q_proj.weight')!, H * qh, D);
  const kva = linear64(x, N, w.get('kv_a_proj_with_mqa.weight')!, r + dr, D);
  const c = new Float64Array(N * r);
  const kr = new Float64Array(N * dr);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < r; k++) c[i * r + k] = kva[i * (r + dr) + k]!;
    for (let k = 0; k < dr; k++) kr[i * dr + k] = kva[i * (r + dr) + r + k]!;
    rope64(kr, i * dr, dr, i % T, freq);
    for (let h = 0; h < H; h++) rope64(q, i * H * qh + h * qh + dn, dr, i % T, freq);
  }
  const kv = linear64(rms64(c, N, r, w.get('kv_a_layernorm.weight')!, cfg.rms_norm_eps), N, w.get('kv_b_proj.weight')!, H * (dn + dv), r);
  const o = new Float64Array(N * H * dv);
  const maxLogits = new Array<number>(H).fill(-Infinity);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const qi = (b * T + t) * H * qh + h * qh;
    const s: number[] = [];
    for (let j = 0; j <= t; j++) {
      const kj = (b * T + j) * H * (dn + dv) + h * (dn + dv);
      let dot = 0;
      for (let k = 0; k < dn; k++) dot += q[qi + k]! * kv[kj + k]!;
      for (let k = 0; k < dr; k++) dot += q[qi + dn + k]! * kr[(b * T + j) * dr + k]!;
      s.push(dot * scale);
    }
    const m = Math.max(...s);
    maxLogits[h] = Math.max(maxLogits[h]!, m);
    const e = s.map((v) => Math.exp(v - m));
    const z = e.reduce((a, v) => a + v, 0);
    for (let j = 0; j <= t; j++) {
      const kj = (b * T + j) * H * (dn + dv) + h * (dn + dv) + dn;
      for (let k = 0; k < dv; k++) o[(b * T + t) * H * dv + h * dv + k] += (e[j]! / z) * kv[kj + k]!;
    }
  }
  return { out: linear64(o, N, w.get('o_proj.weight')!, D, H * dv), maxLogits };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
