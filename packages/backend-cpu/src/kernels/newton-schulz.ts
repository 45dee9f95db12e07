/**
 * Fused Newton-Schulz (Backend.fused.newtonSchulz): the same ops in the same order as the
 * composite in @karakoram/optim-muon, so the result is bit-identical on this backend, but with
 * no per-op temporaries, and every matrix of the batch in lockstep: each product is one batched
 * GEMM call (one wake-up of the worker threads for the whole stack, not one per matrix).
 */
import type { MatmulKernel } from '../backend.js';
import type { WasmElementwise } from '../wasm/elementwise.js';

/** out = x·s + y elementwise, each op rounded to f32 (as the composite's mul then add). */
function scaleAdd(simd: WasmElementwise | undefined, x: Float32Array, s: number, y: Float32Array, out: Float32Array, tmp: Float32Array): void {
  if (simd) {
    simd.binary('mul', x, s, tmp);
    simd.binary('add', tmp, y, out);
    return;
  }
  for (let j = 0; j < out.length; j++) out[j] = Math.fround(x[j]! * s) + y[j]!;
}

/** x: `batch` matrices [rows, cols]; out: same layout. */
export function newtonSchulz(gemm: MatmulKernel, simd: WasmElementwise | undefined, x: Float32Array, batch: number, rows: number, cols: number, steps: number, coefficients: readonly [number, number, number], out: Float32Array): void {
  // The composite multiplies by f32 scalar tensors: the coefficients and eps rounded to f32.
  const [a, b, c] = coefficients.map(Math.fround) as [number, number, number];
  const eps = Math.fround(1e-7);
  const tall = rows > cols;
  const m = tall ? cols : rows;
  const n = tall ? rows : cols;
  const mn = m * n, mm = m * m;
  const X = new Float32Array(batch * mn);
  const Y = new Float32Array(batch * mn);
  const T = new Float32Array(batch * mn);
  const A = new Float32Array(batch * mm);
  const cA = new Float32Array(batch * mm);
  const B = new Float32Array(batch * mm);
  for (let i = 0; i < batch; i++) {
    const src = i * rows * cols, dst = i * mn;
    if (tall) {
      for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) X[dst + q * rows + r] = x[src + r * cols + q]!;
    } else {
      X.set(x.subarray(src, src + mn), dst);
    }
    // sqrt(sum(square(X))) + 1e-7, each op rounded to f32 as the composite's ops are.
    let ss = 0;
    for (let j = dst; j < dst + mn; j++) ss += Math.fround(X[j]! * X[j]!);
    const denom = Math.fround(Math.fround(Math.sqrt(Math.fround(ss))) + eps);
    for (let j = dst; j < dst + mn; j++) X[j] = X[j]! / denom;
  }
  for (let s = 0; s < steps; s++) {
    gemm(X, X, A, m, m, n, false, true, batch);
    if (simd) simd.binary('mul', A, c, cA);
    else for (let j = 0; j < A.length; j++) cA[j] = A[j]! * c;
    gemm(cA, A, B, m, m, m, false, false, batch);
    scaleAdd(simd, A, b, B, B, T.subarray(0, batch * mm));
    gemm(B, X, Y, m, n, m, false, false, batch);
    scaleAdd(simd, X, a, Y, X, T);
  }
  for (let i = 0; i < batch; i++) {
    const src = i * mn, dst = i * rows * cols;
    if (tall) {
      for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) out[dst + r * cols + q] = X[src + q * rows + r]!;
    } else {
      out.set(X.subarray(src, src + mn), dst);
    }
  }
}
