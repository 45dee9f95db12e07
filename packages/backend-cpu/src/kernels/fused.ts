/**
 * Fused kernels (Backend.fused): one pass over each row instead of the five to eight
 * elementwise and reduction ops of their composite defaults in core, each of which allocates a
 * full-size temporary. Row statistics accumulate in f64 (JS numbers), like the reductions.
 */
import type { DataArray } from '@karakoram/core';
import type { MatmulKernel } from '../backend.js';
import type { WasmElementwise } from '../wasm/elementwise.js';

/** softmax over rows of length n. */
export function softmax(x: DataArray, n: number, out: DataArray): void {
  const rows = n === 0 ? 0 : x.length / n;
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) { const v = x[base + j]!; if (v > m || Number.isNaN(v)) m = v; }
    let s = 0;
    for (let j = 0; j < n; j++) { const e = Math.exp(x[base + j]! - m); out[base + j] = e; s += e; }
    const inv = 1 / s;
    for (let j = 0; j < n; j++) out[base + j] = out[base + j]! * inv;
  }
}

/** log-softmax over rows of length n: (x - max) - log(sum(exp(x - max))), as the composite. */
export function logSoftmax(x: DataArray, n: number, out: DataArray): void {
  const rows = n === 0 ? 0 : x.length / n;
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) { const v = x[base + j]!; if (v > m || Number.isNaN(v)) m = v; }
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp(x[base + j]! - m);
    const ls = Math.log(s);
    for (let j = 0; j < n; j++) out[base + j] = x[base + j]! - m - ls;
  }
}

/** x * rsqrt(mean(x²) + eps) * w over rows of length n. */
export function rmsNorm(x: DataArray, w: DataArray, n: number, eps: number, out: DataArray): void {
  const rows = n === 0 ? 0 : x.length / n;
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let ss = 0;
    for (let j = 0; j < n; j++) { const v = x[base + j]!; ss += v * v; }
    // The composite rounds the mean and the rsqrt to f32; so does this.
    const rs = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(ss / n) + eps)));
    for (let j = 0; j < n; j++) out[base + j] = Math.fround(x[base + j]! * rs) * w[j]!;
  }
}


export interface AttentionDims {
  B: number; H: number; T: number; S: number; D: number; Dv: number;
  scale: number;
  causal: boolean;
  /** Additive mask and its broadcast batch and head counts (1 or B, 1 or H). */
  mask?: Float32Array;
  mB: number;
  mH: number;
}

/** Visible keys of query row i: [0, limit). */
const limitOf = (d: AttentionDims, i: number): number => (d.causal ? Math.min(d.S, i + d.S - d.T + 1) : d.S);

/** Heads per batched GEMM call: their [T, S] blocks together stay under this many floats. */
const BLOCK_FLOATS = 1 << 22;
const headsPerCall = (d: AttentionDims): number => Math.max(1, Math.min(d.B * d.H, Math.floor(BLOCK_FLOATS / Math.max(1, d.T * d.S))));

/** One query row's scaled, masked logits in place; returns the max over the visible keys. */
function scaleRow(p: Float32Array, row: number, lim: number, scale: number, mask: Float32Array | undefined, mRow: number): number {
  let m = -Infinity;
  if (mask) {
    for (let j = 0; j < lim; j++) { const x = p[row + j]! * scale + mask[mRow + j]!; p[row + j] = x; if (x > m) m = x; }
  } else if (scale !== 1) {
    for (let j = 0; j < lim; j++) { const x = p[row + j]! * scale; p[row + j] = x; if (x > m) m = x; }
  } else {
    for (let j = 0; j < lim; j++) { const x = p[row + j]!; if (x > m) m = x; }
  }
  return m;
}

const maskRow = (d: AttentionDims, bh: number, i: number): number => {
  const b = Math.floor(bh / d.H), h = bh - b * d.H;
  return (((d.mB === 1 ? 0 : b) * d.mH + (d.mH === 1 ? 0 : h)) * d.T + i) * d.S;
};

/**
 * Per group of (batch, head) pairs: logits = q·kᵀ by one batched GEMM into a [heads, T, S]
 * scratch, then one pass per row (scale, mask, max, exp, sum, normalise; hidden keys get
 * probability 0), then out = P·v by one batched GEMM. A group's blocks stay under BLOCK_FLOATS.
 */
export function attentionForward(gemm: MatmulKernel, simd: WasmElementwise | undefined, d: AttentionDims, q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, rowMax: Float32Array, lse: Float32Array): void {
  const { B, H, T, S, D, Dv, scale, mask } = d;
  const G = headsPerCall(d);
  // Unmasked rows run in wasm SIMD, in place in the module's memory; the last lim % 4 keys in JS.
  const R = simd && !mask ? simd.rows : undefined;
  const p = R ? simd!.scratch(1, G * T * S)[0]! : new Float32Array(G * T * S);
  for (let bh0 = 0; bh0 < B * H; bh0 += G) {
    const g = Math.min(G, B * H - bh0);
    gemm(q.subarray(bh0 * T * D), k.subarray(bh0 * S * D), p, T, S, D, false, true, g);
    for (let h = 0; h < g; h++) {
      const bh = bh0 + h;
      for (let i = 0; i < T; i++) {
        const row = (h * T + i) * S;
        const lim = limitOf(d, i);
        if (R) {
          const lim4 = lim & ~3, at = p.byteOffset + row * 4;
          let m = lim4 ? R.scaleMax(at, lim4 * 4, scale) : -Infinity;
          for (let j = lim4; j < lim; j++) { const x = p[row + j]! * scale; p[row + j] = x; if (x > m) m = x; }
          let s = lim4 ? R.expSum(at, lim4 * 4, m) : 0;
          for (let j = lim4; j < lim; j++) { const e = Math.exp(p[row + j]! - m); p[row + j] = e; s += e; }
          const inv = 1 / s;
          if (lim4) R.scaleRow(at, lim4 * 4, inv);
          for (let j = lim4; j < lim; j++) p[row + j] = p[row + j]! * inv;
          if (lim < S) p.fill(0, row + lim, row + S);
          rowMax[bh * T + i] = m;
          lse[bh * T + i] = m + Math.log(s);
          continue;
        }
        const m = scaleRow(p, row, lim, scale, mask, mask ? maskRow(d, bh, i) : 0);
        let s = 0;
        for (let j = 0; j < lim; j++) { const e = Math.exp(p[row + j]! - m); p[row + j] = e; s += e; }
        const inv = 1 / s;
        for (let j = 0; j < lim; j++) p[row + j] = p[row + j]! * inv;
        if (lim < S) p.fill(0, row + lim, row + S);
        rowMax[bh * T + i] = m;
        lse[bh * T + i] = m + Math.log(s);
      }
    }
    gemm(p, v.subarray(bh0 * S * Dv), out.subarray(bh0 * T * Dv), T, Dv, S, false, false, g);
  }
}

/**
 * The gradient, per group of (batch, head) pairs, with the probabilities rebuilt from q, k and
 * lse: P = exp(logits - lse); dv = Pᵀ·dO; dP = dO·vᵀ; dS = scale·P∘(dP - rowsum(P∘dP));
 * dq = dS·k; dk = dSᵀ·q, each product one batched GEMM. rowsum(P∘dP) equals rowsum(dO∘out),
 * without reading out.
 */
export function attentionBackward(gemm: MatmulKernel, simd: WasmElementwise | undefined, d: AttentionDims, q: Float32Array, k: Float32Array, v: Float32Array, lse: Float32Array, dOut: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array): void {
  const { B, H, T, S, D, Dv, scale, mask } = d;
  const G = headsPerCall(d);
  const R = simd && !mask ? simd.rows : undefined;
  const [p, dp] = R ? simd!.scratch(2, G * T * S) as [Float32Array, Float32Array] : [new Float32Array(G * T * S), new Float32Array(G * T * S)];
  for (let bh0 = 0; bh0 < B * H; bh0 += G) {
    const g = Math.min(G, B * H - bh0);
    const qb = q.subarray(bh0 * T * D), kb = k.subarray(bh0 * S * D), dob = dOut.subarray(bh0 * T * Dv);
    gemm(qb, kb, p, T, S, D, false, true, g);
    gemm(dob, v.subarray(bh0 * S * Dv), dp, T, S, Dv, false, true, g);
    for (let h = 0; h < g; h++) {
      const bh = bh0 + h;
      for (let i = 0; i < T; i++) {
        const row = (h * T + i) * S;
        const lim = limitOf(d, i);
        const l = lse[bh * T + i]!;
        if (R) {
          const lim4 = lim & ~3, at = row * 4;
          let dot = lim4 ? R.expDot(p.byteOffset + at, dp.byteOffset + at, lim4 * 4, scale, l) : 0;
          for (let j = lim4; j < lim; j++) { const e = Math.exp(p[row + j]! * scale - l); p[row + j] = e; dot += e * dp[row + j]!; }
          if (lim4) R.dsRow(p.byteOffset + at, dp.byteOffset + at, lim4 * 4, scale, dot);
          for (let j = lim4; j < lim; j++) dp[row + j] = scale * p[row + j]! * (dp[row + j]! - dot);
          if (lim < S) {
            p.fill(0, row + lim, row + S);
            dp.fill(0, row + lim, row + S);
          }
          continue;
        }
        const mRow = mask ? maskRow(d, bh, i) : 0;
        let dot = 0;
        for (let j = 0; j < lim; j++) {
          const x = p[row + j]! * scale + (mask ? mask[mRow + j]! : 0);
          const e = Math.exp(x - l);
          p[row + j] = e;
          dot += e * dp[row + j]!;
        }
        for (let j = 0; j < lim; j++) dp[row + j] = scale * p[row + j]! * (dp[row + j]! - dot);
        if (lim < S) {
          p.fill(0, row + lim, row + S);
          dp.fill(0, row + lim, row + S);
        }
      }
    }
    gemm(p, dob, dv.subarray(bh0 * S * Dv), S, Dv, T, true, false, g);
    gemm(dp, kb, dq.subarray(bh0 * T * D), T, D, S, false, false, g);
    gemm(dp, qb, dk.subarray(bh0 * S * D), S, D, T, true, false, g);
  }
}

/** dx = y·(dy - Σ dy·y) over rows of length n. */
export function softmaxBackward(y: DataArray, dy: DataArray, n: number, out: DataArray): void {
  const rows = n === 0 ? 0 : y.length / n;
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let s = 0;
    for (let j = 0; j < n; j++) s += dy[base + j]! * y[base + j]!;
    for (let j = 0; j < n; j++) out[base + j] = y[base + j]! * (dy[base + j]! - s);
  }
}

/** dx = dy - exp(y)·Σ dy over rows of length n. */
export function logSoftmaxBackward(y: DataArray, dy: DataArray, n: number, out: DataArray): void {
  const rows = n === 0 ? 0 : y.length / n;
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let s = 0;
    for (let j = 0; j < n; j++) s += dy[base + j]!;
    for (let j = 0; j < n; j++) out[base + j] = dy[base + j]! - Math.exp(y[base + j]!) * s;
  }
}

/**
 * RMSNorm's gradient over rows of length n: with r = rsqrt(mean(x²) + eps), xhat = x·r, g = dy·w:
 * dx = r·(g - xhat·mean(g·xhat)); dw = Σ_rows dy·xhat (accumulated in f64).
 */
export function rmsNormBackward(x: DataArray, w: DataArray, dy: DataArray, n: number, eps: number, dx: DataArray, dw: DataArray): void {
  const rows = n === 0 ? 0 : x.length / n;
  const accW = new Float64Array(n);
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let ss = 0;
    for (let j = 0; j < n; j++) { const v = x[base + j]!; ss += v * v; }
    const rs = 1 / Math.sqrt(ss / n + eps);
    let dot = 0;
    for (let j = 0; j < n; j++) {
      const xh = x[base + j]! * rs;
      const d = dy[base + j]!;
      accW[j] += d * xh;
      dot += d * w[j]! * xh;
    }
    const m = dot / n;
    for (let j = 0; j < n; j++) dx[base + j] = rs * (dy[base + j]! * w[j]! - x[base + j]! * rs * m);
  }
  for (let j = 0; j < n; j++) dw[j] = accW[j]!;
}
