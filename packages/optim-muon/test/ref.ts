/** Plain-JS float64 references for the tests (no Karakoram ops). */
export type Mat = number[][];

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32, then to (-1, 1)
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s / 4294967296) * 2 - 1;
  };
}

export function randMat(rows: number, cols: number, seed: number, scale = 1): Mat {
  const r = rng(seed);
  // Values rounded to f32 so the f32 tensor and the f64 reference start from the same numbers.
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.fround(r() * scale)));
}

export const T = (a: Mat): Mat => a[0]!.map((_, j) => a.map((row) => row[j]!));
export function mm(a: Mat, b: Mat): Mat {
  const n = a.length;
  const k = b.length;
  const m = b[0]!.length;
  const out: Mat = Array.from({ length: n }, () => new Array<number>(m).fill(0));
  for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) {
    const aip = a[i]![p]!;
    for (let j = 0; j < m; j++) out[i]![j]! += aip * b[p]![j]!;
  }
  return out;
}
export const lin = (a: Mat, b: Mat, fa: number, fb: number): Mat => a.map((row, i) => row.map((x, j) => fa * x + fb * b[i]![j]!));
export const scale = (a: Mat, f: number): Mat => a.map((row) => row.map((x) => x * f));

/** NS5 in float64, exactly as K2-FACTS states it. */
export function ns5Ref(G: Mat, steps = 5): Mat {
  const [a, b, c] = [3.4445, -4.775, 2.0315];
  const tall = G.length > G[0]!.length;
  let X = tall ? T(G) : G.map((r) => [...r]);
  const norm = Math.sqrt(X.flat().reduce((s, x) => s + x * x, 0));
  X = scale(X, 1 / (norm + 1e-7));
  for (let i = 0; i < steps; i++) {
    const A = mm(X, T(X));
    const B = lin(A, mm(A, A), b, c);
    X = lin(X, mm(B, X), a, 1);
  }
  return tall ? T(X) : X;
}

/** bf16 round-to-nearest-even through the bit pattern (the reference conversion). */
const dv = new DataView(new ArrayBuffer(4));
export function bf16Bits(x: number): number {
  dv.setFloat32(0, x);
  let u = dv.getUint32(0);
  if (Number.isNaN(x)) return x;
  const lsb = (u >>> 16) & 1;
  u = ((u + 0x7fff + lsb) >>> 0) & 0xffff0000;
  dv.setUint32(0, u >>> 0);
  return dv.getFloat32(0);
}

export function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let maxAbs = 0;
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
    maxErr = Math.max(maxErr, Math.abs(got[i]! - want[i]!));
  }
  return maxErr / Math.max(maxAbs, 1e-30);
}

export const bitsOf = (a: Float32Array | Int32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);
