import { KarakoramError, ShapeError, fmtShape, ops, tidy, wrap, type Tensor } from '@karakoram/core';
import { roundToBf16 } from './bf16.js';

const { add, div, matmul, mul, sqrt, square, sum, transpose } = ops;

/** The quintic coefficients (a, b, c) of Muon's Newton-Schulz iteration (Keller Jordan; Moonlight). */
export const NS5_COEFFICIENTS = [3.4445, -4.775, 2.0315] as const;

/** Options of the Newton-Schulz orthogonalization (iteration count and precision). */
export interface NewtonSchulzOptions {
  /** Iterations (5). */
  steps?: number;
  /**
   * 'f32' (default): every op in f32. 'bf16': emulates the PyTorch reference that runs in bfloat16
   * (Moonlight, Keller Jordan's Muon): the input, the normalized X and every intermediate PyTorch would
   * store in bf16 (X Xᵀ, c·A, (c·A)·A, b·A, B, a·X, B·X, X) are rounded to bf16 with roundToBf16, so
   * it runs on any backend; products still accumulate in f32, as bf16 tensor cores do.
   */
  dtype?: 'f32' | 'bf16';
  /** (a, b, c); defaults to NS5_COEFFICIENTS. */
  coefficients?: readonly [number, number, number];
}

/**
 * Approximately orthogonalizes G (the "zeroth power" U Vᵀ of G = U S Vᵀ, with singular values
 * landing roughly in [0.7, 1.2] rather than exactly 1):
 *
 *   X = G (transposed if rows > cols); X = X / (||X||_F + 1e-7);
 *   `steps` times: A = X Xᵀ; X = a X + (b A + c A A) X;  transposed back.
 *
 * G has rank >= 2; leading dims are a batch of independent matrices (stacked experts), each
 * normalized by its own Frobenius norm. Built only from core ops, so it runs on every backend;
 * a backend with `fused.newtonSchulz` (f32 only) runs the same computation in one call.
 * The result is a new f32 tensor with G's shape.
 */
export function newtonSchulz5(G: Tensor, options: NewtonSchulzOptions = {}): Tensor {
  const { steps = 5, dtype = 'f32', coefficients = NS5_COEFFICIENTS } = options;
  if (G.rank < 2) throw new ShapeError('newtonSchulz5', `needs a matrix (rank >= 2), got ${fmtShape(G.shape)}`);
  if (G.dtype !== 'f32') throw new KarakoramError('dtype', `needs an f32 tensor, got ${G.dtype}`, 'newtonSchulz5');
  if (!Number.isInteger(steps) || steps < 0) throw new KarakoramError('args', `steps must be an integer >= 0, got ${steps}`, 'newtonSchulz5');
  if (dtype !== 'f32' && dtype !== 'bf16') throw new KarakoramError('args', `dtype must be 'f32' or 'bf16', got ${String(dtype)}`, 'newtonSchulz5');
  const [a, b, c] = coefficients;
  const fused = G.backend.fused?.newtonSchulz;
  // The fused kernel computes this same f32 composite (the definition below) in one call.
  if (fused && dtype === 'f32') return wrap(G.backend, fused.call(G.backend.fused, G.info, steps, [a, b, c]), G.shape, 'f32');
  const rows = G.shape[G.rank - 2]!;
  const cols = G.shape[G.rank - 1]!;
  const tall = rows > cols;
  const r = dtype === 'bf16' ? roundToBf16 : (t: Tensor): Tensor => t;
  return tidy(() => {
    let X = r(G);
    if (tall) X = transpose(X);
    const norm = r(sqrt(sum(square(X), [X.rank - 2, X.rank - 1], true)));
    X = r(div(X, add(norm, 1e-7)));
    for (let i = 0; i < steps; i++) {
      const A = r(matmul(X, X, false, true));
      const B = r(add(r(mul(A, b)), r(matmul(r(mul(A, c)), A))));
      X = r(add(r(mul(X, a)), r(matmul(B, X))));
    }
    // X is always a new tensor here (the normalization divides), never G itself.
    return tall ? transpose(X) : X;
  });
}
