/**
 * Portable matmul in plain JS (i-k-j order, so the inner loop streams rows of B and C).
 * It is the fallback where WebAssembly is unavailable and the reference the fast path is
 * tested against.
 */
export function matmulJs(
  a: Float32Array, b: Float32Array, c: Float32Array,
  m: number, n: number, k: number, transA: boolean, transB: boolean,
  batch = 1, aStride = m * k, bStride = k * n,
): void {
  if (batch !== 1) {
    for (let i = 0; i < batch; i++) {
      matmulJs(a.subarray(i * aStride, i * aStride + m * k), b.subarray(i * bStride, i * bStride + k * n), c.subarray(i * m * n, (i + 1) * m * n), m, n, k, transA, transB);
    }
    return;
  }
  c.fill(0, 0, m * n);
  const bt = transB ? transpose(b, n, k) : b;
  for (let i = 0; i < m; i++) {
    const crow = i * n;
    for (let p = 0; p < k; p++) {
      const av = transA ? a[p * m + i]! : a[i * k + p]!;
      if (av === 0) continue;
      const brow = p * n;
      for (let j = 0; j < n; j++) c[crow + j]! += av * bt[brow + j]!;
    }
  }
}

/** [rows, cols] -> [cols, rows] */
export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    for (let j0 = 0; j0 < cols; j0 += B) {
      const iMax = Math.min(rows, i0 + B);
      const jMax = Math.min(cols, j0 + B);
      for (let i = i0; i < iMax; i++) for (let j = j0; j < jMax; j++) out[j * rows + i] = x[i * cols + j]!;
    }
  }
  return out;
}
