/** The everyday op vocabulary, all built on the primitives. Scalars are accepted where a tensor is. */
import type { DType } from '../dtype.js';
import { getBackend } from '../engine.js';
import { KarakoramError, ShapeError, fmtShape } from '../errors.js';
import { broadcastShapes, normAxis, shapesEqual, sizeOf } from '../shape.js';
import { Tensor, wrap } from '../tensor.js';
import type { Backend } from '../backend.js';
import * as P from './primitives.js';
import { noGrad, recordGroup } from '../autodiff/tape.js';

/** A tensor or a plain number; numbers are lifted to scalar tensors of the other operand's dtype and backend. */
export type TensorLike = Tensor | number;

const lift = (x: TensorLike, like: Tensor): Tensor => (typeof x === 'number' ? P.fill([], x, like.dtype, like.backend) : x);

function bin(op: Parameters<typeof P.binary>[0], a: TensorLike, b: TensorLike): Tensor {
  if (typeof a === 'number' && typeof b === 'number') throw new KarakoramError('args', 'at least one operand must be a tensor', op);
  const ta = typeof a === 'number' ? lift(a, b as Tensor) : a;
  const tb = typeof b === 'number' ? lift(b, ta) : b;
  return P.binary(op, ta, tb);
}

// -- creation ---------------------------------------------------------------------------------

/** A tensor from JS numbers (nested arrays or flat data with a shape). */
export function tensor(values: number | number[] | number[][] | number[][][] | ArrayLike<number>, shape?: readonly number[], dtype: DType = 'f32', backend: Backend = getBackend()): Tensor {
  const flat: number[] | ArrayLike<number> =
    typeof values === 'number' ? [values] : Array.isArray(values) ? (values as unknown[]).flat(Infinity as 1) as number[] : values;
  const inferred = shape ?? inferShape(values);
  if (sizeOf(inferred) !== flat.length) throw new ShapeError('tensor', `${flat.length} values do not fill shape ${fmtShape(inferred)}`);
  const arr = dtype === 'f32' ? Float32Array.from(flat as ArrayLike<number>) : Int32Array.from(flat as ArrayLike<number>);
  return wrap(backend, backend.upload(arr, dtype), [...inferred], dtype);
}

function inferShape(v: unknown): number[] {
  const s: number[] = [];
  let cur = v;
  while (Array.isArray(cur)) {
    s.push(cur.length);
    cur = cur[0];
  }
  if (typeof v !== 'number' && !Array.isArray(v)) s.push((v as ArrayLike<number>).length);
  return s;
}

/** A tensor of `shape` filled with 0. */
export const zeros = (shape: readonly number[], dtype: DType = 'f32', backend?: Backend): Tensor => P.fill(shape, 0, dtype, backend);
/** A tensor of `shape` filled with 1. */
export const ones = (shape: readonly number[], dtype: DType = 'f32', backend?: Backend): Tensor => P.fill(shape, 1, dtype, backend);
/** A tensor of `shape` filled with `value`. */
export const full = (shape: readonly number[], value: number, dtype: DType = 'f32', backend?: Backend): Tensor => P.fill(shape, value, dtype, backend);
/** Zeros with the shape, dtype and backend of `t`. */
export const zerosLike = (t: Tensor): Tensor => P.fill(t.shape, 0, t.dtype, t.backend);
/** Ones with the shape, dtype and backend of `t`. */
export const onesLike = (t: Tensor): Tensor => P.fill(t.shape, 1, t.dtype, t.backend);

/** The 1-D tensor [0, 1, ..., n-1] (i32 by default). */
export function arange(n: number, dtype: DType = 'i32', backend: Backend = getBackend()): Tensor {
  const a = dtype === 'i32' ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return wrap(backend, backend.upload(a, dtype), [n], dtype);
}

/** Uniform [lo, hi) from the counter-based generator: the same numbers on every backend. */
export function randomUniform(shape: readonly number[], seed: number, lo = 0, hi = 1, backend?: Backend): Tensor {
  const u = P.random(shape, 'uniform', seed, backend);
  return lo === 0 && hi === 1 ? u : add(mul(u, hi - lo), lo);
}

/** Normal(mean, std) draws from the counter-based generator, reproducible from `seed`. */
export function randomNormal(shape: readonly number[], seed: number, mean = 0, std = 1, backend?: Backend): Tensor {
  const n = P.random(shape, 'normal', seed, backend);
  return mean === 0 && std === 1 ? n : add(mul(n, std), mean);
}

// -- elementwise ------------------------------------------------------------------------------

/** Elementwise a + b with numpy broadcasting. */
export const add = (a: TensorLike, b: TensorLike): Tensor => bin('add', a, b);
/** Elementwise a - b with numpy broadcasting. */
export const sub = (a: TensorLike, b: TensorLike): Tensor => bin('sub', a, b);
/** Elementwise a * b with numpy broadcasting. */
export const mul = (a: TensorLike, b: TensorLike): Tensor => bin('mul', a, b);
/** Elementwise a / b with numpy broadcasting. */
export const div = (a: TensorLike, b: TensorLike): Tensor => bin('div', a, b);
/** Elementwise a ** b with numpy broadcasting. */
export const pow = (a: TensorLike, b: TensorLike): Tensor => bin('pow', a, b);
/** Elementwise max(a, b) with numpy broadcasting. */
export const maximum = (a: TensorLike, b: TensorLike): Tensor => bin('max', a, b);
/** Elementwise min(a, b) with numpy broadcasting. */
export const minimum = (a: TensorLike, b: TensorLike): Tensor => bin('min', a, b);
/** Elementwise a == b as 1/0 in the input dtype. */
export const equal = (a: TensorLike, b: TensorLike): Tensor => bin('eq', a, b);
/** Elementwise a != b as 1/0 in the input dtype. */
export const notEqual = (a: TensorLike, b: TensorLike): Tensor => bin('ne', a, b);
/** Elementwise a < b as 1/0 in the input dtype. */
export const less = (a: TensorLike, b: TensorLike): Tensor => bin('lt', a, b);
/** Elementwise a <= b as 1/0 in the input dtype. */
export const lessEqual = (a: TensorLike, b: TensorLike): Tensor => bin('le', a, b);
/** Elementwise a > b as 1/0 in the input dtype. */
export const greater = (a: TensorLike, b: TensorLike): Tensor => bin('gt', a, b);
/** Elementwise a >= b as 1/0 in the input dtype. */
export const greaterEqual = (a: TensorLike, b: TensorLike): Tensor => bin('ge', a, b);

/** Elementwise -x. */
export const neg = (x: Tensor): Tensor => P.unary('neg', x);
/** Elementwise eˣ. */
export const exp = (x: Tensor): Tensor => P.unary('exp', x);
/** Elementwise natural logarithm. */
export const log = (x: Tensor): Tensor => P.unary('log', x);
/** Elementwise square root. */
export const sqrt = (x: Tensor): Tensor => P.unary('sqrt', x);
/** Elementwise 1 / sqrt(x). */
export const rsqrt = (x: Tensor): Tensor => P.unary('rsqrt', x);
/** Elementwise 1 / x. */
export const reciprocal = (x: Tensor): Tensor => P.unary('reciprocal', x);
/** Elementwise sine. */
export const sin = (x: Tensor): Tensor => P.unary('sin', x);
/** Elementwise cosine. */
export const cos = (x: Tensor): Tensor => P.unary('cos', x);
/** Elementwise hyperbolic tangent. */
export const tanh = (x: Tensor): Tensor => P.unary('tanh', x);
/** Elementwise logistic sigmoid 1 / (1 + e⁻ˣ). */
export const sigmoid = (x: Tensor): Tensor => P.unary('sigmoid', x);
/** Elementwise absolute value. */
export const abs = (x: Tensor): Tensor => P.unary('abs', x);
/** Elementwise sign: -1, 0 or 1. */
export const sign = (x: Tensor): Tensor => P.unary('sign', x);
/** Elementwise round toward -∞. */
export const floor = (x: Tensor): Tensor => P.unary('floor', x);
/** Elementwise x². */
export const square = (x: Tensor): Tensor => P.unary('square', x);
/** max(x, 0). */
export const relu = (x: Tensor): Tensor => maximum(x, 0);
/** SiLU (swish): x · sigmoid(x). */
export const silu = (x: Tensor): Tensor => mul(x, sigmoid(x));

/** cond ? a : b (cond nonzero means true). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const like = typeof a === 'number' ? (typeof b === 'number' ? cond : b) : a;
  const dtype = like.dtype;
  const ta = typeof a === 'number' ? P.fill([], a, dtype, cond.backend) : a;
  const tb = typeof b === 'number' ? P.fill([], b, dtype, cond.backend) : b;
  return P.select(cond, ta, tb);
}

/** x converted to `dtype` (f32 to i32 truncates toward zero); a free view when the dtype already matches. */
export const cast = P.cast;

// -- reductions -------------------------------------------------------------------------------

/** Sum over `axes` (all axes when omitted); `keepDims` keeps reduced dims as 1. */
export const sum = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => P.reduce('sum', x, axes, keepDims);
/** Max over `axes` (all axes when omitted); `keepDims` keeps reduced dims as 1. */
export const max = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => P.reduce('max', x, axes, keepDims);
/** Min over `axes` (all axes when omitted); `keepDims` keeps reduced dims as 1. */
export const min = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => P.reduce('min', x, axes, keepDims);

/** Mean over `axes` (all axes when omitted); `keepDims` keeps reduced dims as 1. */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const s = sum(x, axes, keepDims);
  const n = x.size / Math.max(1, s.size);
  return div(s, n);
}

/** i32 index of the largest value along the last axis (the first on ties); drops that axis. */
export function argmax(x: Tensor): Tensor {
  const { indices } = P.topk(x, 1);
  return P.reshape(indices, x.shape.slice(0, -1));
}

/** log(Σ exp(x)) along `axis`, computed stably by subtracting the max first. */
export function logSumExp(x: Tensor, axis = -1, keepDims = false): Tensor {
  const ax = normAxis('logSumExp', axis, x.rank);
  const m = P.cast(max(x, ax, true), x.dtype);
  const shifted = sub(x, stopGradient(m));
  const r = add(log(sum(exp(shifted), ax, true)), stopGradient(m));
  return keepDims ? r : P.reshape(r, x.shape.filter((_, i) => i !== ax));
}

/** Same values, no gradient (the result is not connected to the tape). */
export function stopGradient(x: Tensor): Tensor {
  // A view of the same storage that is never recorded on the tape.
  return new Tensor(x.backend, x.ref.retain(), x.shape, x.dtype);
}

// -- linear algebra ---------------------------------------------------------------------------

/**
 * Matrix product with numpy batch broadcasting: a [..., M, K] · b [..., K, N]. Rank-1 operands
 * are not promoted; use reshape. transA/transB transpose the last two dims of a or b.
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new ShapeError('matmul', `needs rank >= 2 operands, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  // Checked here, on the caller's shapes, not on the rank-3 views matmul3 sees.
  const ka = a.shape[a.rank - (transA ? 2 : 1)]!;
  const kb = b.shape[b.rank - (transB ? 1 : 2)]!;
  const shapes = `${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} x ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''}`;
  if (ka !== kb) throw new ShapeError('matmul', `inner dimensions differ: ${shapes} (${ka} vs ${kb})`);
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  let batch: number[];
  try {
    batch = broadcastShapes('matmul', batchA, batchB);
  } catch {
    throw new ShapeError('matmul', `batch dimensions ${fmtShape(batchA)} and ${fmtShape(batchB)} do not broadcast (${shapes})`);
  }
  const nb = sizeOf(batch);
  const to3 = (t: Tensor, tb: readonly number[]): Tensor => {
    const n = sizeOf(tb);
    const r2 = t.shape.slice(-2);
    if (n === nb || n === 1) return P.reshape(t, [n, ...r2]);
    return P.reshape(P.broadcastTo(t, [...batch, ...r2]), [nb, ...r2]);
  };
  const out = P.matmul3(to3(a, batchA), to3(b, batchB), transA, transB);
  return P.reshape(out, [...batch, out.shape[1]!, out.shape[2]!]);
}

/** Swaps the last two axes. */
export function transpose(x: Tensor): Tensor {
  if (x.rank < 2) throw new ShapeError('transpose', `needs rank >= 2, got ${fmtShape(x.shape)}`);
  const perm = [...x.shape.keys()];
  perm[x.rank - 1] = x.rank - 2;
  perm[x.rank - 2] = x.rank - 1;
  return P.permute(x, perm);
}

/** x · Wᵀ (+ b): the torch Linear convention, weights stored [out, in] as in HF checkpoints. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  if (weight.rank !== 2) throw new ShapeError('linear', `weight must be [out, in], got ${fmtShape(weight.shape)}`);
  const inF = weight.shape[1]!;
  if (x.shape[x.rank - 1] !== inF) throw new ShapeError('linear', `input ${fmtShape(x.shape)} does not end in ${inF} (weight ${fmtShape(weight.shape)})`);
  const flat = P.reshape(x, [1, x.size / Math.max(1, inF) || 0, inF]);
  const y = P.matmul3(flat, P.reshape(weight, [1, ...weight.shape]), false, true);
  const out = P.reshape(y, [...x.shape.slice(0, -1), weight.shape[0]!]);
  return bias ? add(out, bias) : out;
}

// -- movement sugar ---------------------------------------------------------------------------

/** Same data in a new shape (a free view); one dim may be -1. */
export const reshape = P.reshape;
/** Reorders axes: output axis i is input axis perm[i]. */
export const permute = P.permute;
/** x[begin[i] : begin[i] + size[i]] on every axis; a size of -1 takes the rest of that axis. */
export const slice = P.slice;
/** Zero-pads `before[i]` and `after[i]` elements on each axis. */
export const pad = P.pad;
/** Joins tensors along `axis` (every other dim must match). */
export const concat = P.concat;
/** Broadcasts x to `shape` (numpy rules; leading dims may be added). */
export const broadcastTo = P.broadcastTo;
/** Indexes x along `axis` with i32 `indices`: shape x[:axis] + indices.shape + x[axis+1:]. */
export const gather = P.gather;
/** The adjoint of gather: zeros of `shape` with `updates` added at the indexed positions (duplicates accumulate). */
export const scatterAdd = P.scatterAdd;
/** The k largest values along the last axis and their i32 indices (descending, stable). */
export const topk = P.topk;

/** Inserts a size-1 axis at `axis` (negative counts from the end of the result). */
export function expandDims(x: Tensor, axis: number): Tensor {
  const ax = axis < 0 ? axis + x.rank + 1 : axis;
  return P.reshape(x, [...x.shape.slice(0, ax), 1, ...x.shape.slice(ax)]);
}

/** Removes the size-1 axis at `axis`; throws if that dim is not 1. */
export function squeeze(x: Tensor, axis: number): Tensor {
  const ax = normAxis('squeeze', axis, x.rank);
  if (x.shape[ax] !== 1) throw new ShapeError('squeeze', `axis ${axis} of ${fmtShape(x.shape)} is not 1`);
  return P.reshape(x, x.shape.filter((_, i) => i !== ax));
}

/**
 * Splits along `axis` into pieces of the given sizes. One tape node for all pieces: the gradient
 * is one concat of the pieces' cotangents (zeros for unused pieces), not a zero-padded full-size
 * tensor per piece summed together (which made a 16-expert MoE's dispatch quadratic).
 */
export function split(x: Tensor, sizes: readonly number[], axis = -1): Tensor[] {
  const ax = normAxis('split', axis, x.rank);
  if (sizes.reduce((a, b) => a + b, 0) !== x.shape[ax]) throw new ShapeError('split', `sizes ${fmtShape(sizes)} do not add up to axis ${ax} of ${fmtShape(x.shape)}`);
  let off = 0;
  const pieces = sizes.map((s) => {
    const begin = x.shape.map((_, i) => (i === ax ? off : 0));
    const size = x.shape.map((d, i) => (i === ax ? s : d));
    off += s;
    return noGrad(() => P.slice(x, begin, size));
  });
  recordGroup('split', [x], pieces, (dys) => {
    if (dys.length === 1) return [dys[0]!];
    return [P.concat(dys.map((d, i) => d ?? zerosLike(pieces[i]!)), ax)];
  });
  return pieces;
}

/** out[..., j] = x[..., idx[..., j]] along the last axis (torch.gather on dim -1). */
export function takeAlongLastAxis(x: Tensor, idx: Tensor): Tensor {
  const n = x.shape[x.rank - 1]!;
  const rows = x.size / Math.max(1, n);
  if (!shapesEqual(x.shape.slice(0, -1), idx.shape.slice(0, -1))) throw new ShapeError('takeAlongLastAxis', `leading dims of ${fmtShape(x.shape)} and indices ${fmtShape(idx.shape)} differ`);
  const k = idx.shape[idx.rank - 1]!;
  const base = mul(P.reshape(arange(rows, 'i32', x.backend), [rows, 1]), n);
  const flatIdx = add(P.reshape(idx, [rows, k]), base);
  const out = P.gather(P.reshape(x, [rows * n]), flatIdx, 0);
  return P.reshape(out, idx.shape);
}

/** f32 one-hot encoding of i32 `idx`: a new last axis of length `depth`. */
export function oneHot(idx: Tensor, depth: number): Tensor {
  const r = P.reshape(arange(depth, 'i32', idx.backend), [...Array(idx.rank).fill(1), depth]);
  return P.cast(equal(expandDims(idx, -1), r), 'f32');
}
