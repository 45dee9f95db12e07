/**
 * Fused Newton-Schulz (Backend.fused.newtonSchulz): the same ops in the same order as the
 * composite in @karakoram/optim-muon, so the result is bit-identical on this backend, but each
 * matrix reuses five scratch arrays instead of allocating eight temporaries per iteration (Muon
 * orthogonalizes every expert's matrices every step: thousands of small ops).
 */
import type { Gemm } from './fused.js';
import type { WasmElementwise } from '../wasm/elementwise.js';

/** x: `batch` matrices [rows, cols]; out: same layout. */
export function newtonSchulz(gemm: Gemm, simd: WasmElementwise | undefined, x: Float32Array, batch: number, rows: number, cols: number, steps: number, coefficients: readonly [number, number, number], out: Float32Array): void {
  // The composite multiplies by f32 scalar tensors: the coefficients and eps rounded to f32.
  const [a, b, c] = coefficients.map(Math.fround) as [number, number, number];
  const eps = Math.fround(1e-7);
  const tall = rows > cols;
  const m = tall ? cols : rows;
  const n = tall ? rows : cols;
  const X = new Float32Array(m * n);
  const Y = new Float32Array(m * n);
  const A = new Float32Array(m * m);
  const cA = new Float32Array(m * m);
  const B = new Float32Array(m * m);
  const T = simd ? new Float32Array(m * n) : X;
  for (let i = 0; i < batch; i++) {
    const base = i * rows * cols;
    if (tall) {
      for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) X[q * rows + r] = x[base + r * cols + q]!;
    } else {
      X.set(x.subarray(base, base + rows * cols));
    }
    // sqrt(sum(square(X))) + 1e-7, each op rounded to f32 as the composite's ops are.
    let ss = 0;
    for (let j = 0; j < m * n; j++) ss += Math.fround(X[j]! * X[j]!);
    const denom = Math.fround(Math.fround(Math.sqrt(Math.fround(ss))) + eps);
    for (let j = 0; j < m * n; j++) X[j] = X[j]! / denom;
    for (let s = 0; s < steps; s++) {
      gemm(X, X, A, m, m, n, false, true);
      if (simd) {
        // f32 SIMD ops round exactly as the JS loops below do.
        const T2 = T.subarray(0, m * m);
        simd.binary('mul', A, c, cA);
        gemm(cA, A, B, m, m, m, false, false);
        simd.binary('mul', A, b, T2);
        simd.binary('add', T2, B, B);
        gemm(B, X, Y, m, n, m, false, false);
        simd.binary('mul', X, a, T);
        simd.binary('add', T, Y, X);
        continue;
      }
      for (let j = 0; j < m * m; j++) cA[j] = A[j]! * c;
      gemm(cA, A, B, m, m, m, false, false);
      for (let j = 0; j < m * m; j++) B[j] = Math.fround(A[j]! * b) + B[j]!;
      gemm(B, X, Y, m, n, m, false, false);
      for (let j = 0; j < m * n; j++) X[j] = Math.fround(X[j]! * a) + Y[j]!;
    }
    if (tall) {
      for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) out[base + r * cols + q] = X[q * rows + r]!;
    } else {
      out.set(X, base);
    }
  }
}
