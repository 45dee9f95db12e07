/**
 * Frontends of the backend primitives: check arguments, compute the output shape, call the
 * backend, and record the op on the tape with its rule from autodiff/rules.ts.
 */
import type { Backend, BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import type { DType } from '../dtype.js';
import { getBackend } from '../engine.js';
import { KarakoramError, ShapeError, fmtShape } from '../errors.js';
import { record } from '../autodiff/tape.js';
import { rules } from '../autodiff/rules.js';
import { broadcastShapes, checkShape, normAxes, normAxis, shapesEqual, sizeOf, type Shape } from '../shape.js';
import { Tensor, view, wrap } from '../tensor.js';
import type { RandomKind } from '../random.js';

function backendOf(op: string, ts: readonly Tensor[]): Backend {
  const b = ts[0]!.backend;
  for (const t of ts) {
    if (t.backend !== b) throw new KarakoramError('backend-mismatch', `inputs live on different backends (${b.name} and ${t.backend.name}); move them with toBackend()`, op);
  }
  return b;
}

function sameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new KarakoramError('dtype', `dtypes differ: ${a.dtype} and ${b.dtype}; cast one first`, op);
}

// -- creation ---------------------------------------------------------------------------------

export function fill(shape: Shape, value: number, dtype: DType = 'f32', backend: Backend = getBackend()): Tensor {
  checkShape('fill', shape);
  return wrap(backend, backend.fill(shape, value, dtype), [...shape], dtype);
}

export function random(shape: Shape, kind: RandomKind, seed: number, backend: Backend = getBackend()): Tensor {
  checkShape('random', shape);
  return wrap(backend, backend.random(shape, kind, seed >>> 0), [...shape], 'f32');
}

// -- elementwise ------------------------------------------------------------------------------

export function unary(op: UnaryOp, x: Tensor): Tensor {
  const out = wrap(x.backend, x.backend.unary(op, x.info), x.shape, x.dtype);
  return record(op, [x], out, (dy) => rules.unary(op, x, out, dy));
}

export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const be = backendOf(op, [a, b]);
  sameDType(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = wrap(be, be.binary(op, a.info, b.info, shape), shape, a.dtype);
  return record(op, [a, b], out, (dy) => rules.binary(op, a, b, out, dy));
}

export function select(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const be = backendOf('where', [cond, a, b]);
  sameDType('where', a, b);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  const out = wrap(be, be.select(cond.info, a.info, b.info, shape), shape, a.dtype);
  return record('where', [a, b], out, (dy) => rules.select(cond, a, b, dy));
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return view(x, x.shape);
  return wrap(x.backend, x.backend.cast(x.info, dtype), x.shape, dtype);
}

// -- reductions -------------------------------------------------------------------------------

export function reduce(op: ReduceOp, x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normAxes(op, axes, x.rank);
  if (op !== 'sum') for (const a of ax) if (x.shape[a] === 0) throw new ShapeError(op, `cannot take ${op} over empty axis ${a} of ${fmtShape(x.shape)}`);
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = wrap(x.backend, x.backend.reduce(op, x.info, ax), kept, x.dtype);
  record(op, [x], out, (dy) => rules.reduce(op, x, out, dy));
  return keepDims ? out : reshape(out, x.shape.filter((_, i) => !ax.includes(i)));
}

/** The k largest values along the last axis and their i32 indices (descending, stable). */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
  if (x.rank === 0) throw new ShapeError('topk', 'needs a tensor of rank >= 1');
  const n = x.shape[x.rank - 1]!;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new ShapeError('topk', `k = ${k} must be an integer in [0, ${n}] for ${fmtShape(x.shape)}`);
  const shape = [...x.shape.slice(0, -1), k];
  const r = x.backend.topk(x.info, k);
  const indices = wrap(x.backend, r.indices, shape, 'i32');
  const values = wrap(x.backend, r.values, shape, x.dtype);
  record('topk', [x], values, (dy) => rules.topk(x, indices, dy));
  return { values, indices };
}

// -- linear algebra ---------------------------------------------------------------------------

/** The batched primitive on rank-3 inputs; see Backend.matmul. */
export function matmul3(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const be = backendOf('matmul', [a, b]);
  sameDType('matmul', a, b);
  if (a.dtype !== 'f32') throw new KarakoramError('dtype', `needs f32 operands, got ${a.dtype}; cast first`, 'matmul');
  if (a.rank !== 3 || b.rank !== 3) throw new ShapeError('matmul', `matmul3 needs rank-3 inputs, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const [ba, a1, a2] = a.shape as [number, number, number];
  const [bb, b1, b2] = b.shape as [number, number, number];
  const [m, ka] = transA ? [a2, a1] : [a1, a2];
  const [kb, n] = transB ? [b2, b1] : [b1, b2];
  if (ka !== kb) throw new ShapeError('matmul', `inner dimensions differ: ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} x ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''} (${ka} vs ${kb})`);
  if (ba !== bb && ba !== 1 && bb !== 1) throw new ShapeError('matmul', `batch sizes ${ba} and ${bb} do not broadcast (${fmtShape(a.shape)} x ${fmtShape(b.shape)})`);
  const out = wrap(be, be.matmul(a.info, b.info, transA, transB), [Math.max(ba, bb), m, n], a.dtype);
  return record('matmul', [a, b], out, (dy) => rules.matmul(a, b, transA, transB, dy));
}

// -- indexing ---------------------------------------------------------------------------------

export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  backendOf('gather', [x, indices]);
  if (indices.dtype !== 'i32') throw new KarakoramError('dtype', `indices must be i32, got ${indices.dtype}`, 'gather');
  const ax = normAxis('gather', axis, x.rank);
  const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
  const out = wrap(x.backend, x.backend.gather(x.info, indices.info, ax), shape, x.dtype);
  return record('gather', [x], out, (dy) => rules.gather(x, indices, ax, dy));
}

export function scatterAdd(shape: Shape, indices: Tensor, updates: Tensor, axis = 0): Tensor {
  backendOf('scatterAdd', [indices, updates]);
  if (indices.dtype !== 'i32') throw new KarakoramError('dtype', `indices must be i32, got ${indices.dtype}`, 'scatterAdd');
  const ax = normAxis('scatterAdd', axis, shape.length);
  const expect = [...shape.slice(0, ax), ...indices.shape, ...shape.slice(ax + 1)];
  if (!shapesEqual(expect, updates.shape)) throw new ShapeError('scatterAdd', `updates ${fmtShape(updates.shape)} do not match ${fmtShape(expect)} (target ${fmtShape(shape)}, indices ${fmtShape(indices.shape)}, axis ${ax})`);
  const out = wrap(updates.backend, updates.backend.scatterAdd(shape, indices.info, updates.info, ax), [...shape], updates.dtype);
  return record('scatterAdd', [updates], out, (dy) => rules.scatterAdd(indices, ax, dy));
}

// -- movement ---------------------------------------------------------------------------------

/** Free: a new view of the same storage. One dim may be -1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = [...shape];
  const infer = s.indexOf(-1);
  if (infer >= 0) {
    const rest = sizeOf(s.filter((_, i) => i !== infer));
    if (rest === 0 || x.size % rest !== 0) throw new ShapeError('reshape', `cannot reshape ${fmtShape(x.shape)} into ${fmtShape(shape)}`);
    s[infer] = x.size / rest;
  }
  checkShape('reshape', s);
  if (sizeOf(s) !== x.size) throw new ShapeError('reshape', `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(shape)} (${sizeOf(s)})`);
  const out = view(x, s);
  return record('reshape', [x], out, (dy) => [reshape(dy, x.shape)]);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new ShapeError('permute', `${fmtShape(perm)} is not a permutation of the ${x.rank} axes of ${fmtShape(x.shape)}`);
  }
  if (perm.every((p, i) => p === i)) return reshape(x, x.shape);
  const out = wrap(x.backend, x.backend.permute(x.info, perm), perm.map((p) => x.shape[p]!), x.dtype);
  return record('permute', [x], out, (dy) => rules.permute(perm, dy));
}

export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  if (begin.length !== x.rank || size.length !== x.rank) throw new ShapeError('slice', `begin ${fmtShape(begin)} and size ${fmtShape(size)} must have one entry per axis of ${fmtShape(x.shape)}`);
  const sz = size.map((s, i) => (s < 0 ? x.shape[i]! - begin[i]! : s));
  sz.forEach((s, i) => {
    if (begin[i]! < 0 || s < 0 || begin[i]! + s > x.shape[i]!) throw new ShapeError('slice', `range [${begin[i]}, ${begin[i]! + s}) is outside axis ${i} of ${fmtShape(x.shape)}`);
  });
  const out = wrap(x.backend, x.backend.slice(x.info, begin, sz), sz, x.dtype);
  return record('slice', [x], out, (dy) => [pad(dy, begin, x.shape.map((d, i) => d - begin[i]! - sz[i]!))]);
}

export function pad(x: Tensor, before: readonly number[], after: readonly number[]): Tensor {
  if (before.length !== x.rank || after.length !== x.rank) throw new ShapeError('pad', `before/after need one entry per axis of ${fmtShape(x.shape)}`);
  if ([...before, ...after].some((p) => !Number.isInteger(p) || p < 0)) throw new ShapeError('pad', 'padding must be integers >= 0');
  const shape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  const out = wrap(x.backend, x.backend.pad(x.info, before, after), shape, x.dtype);
  return record('pad', [x], out, (dy) => [slice(dy, before, x.shape)]);
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('concat', 'needs at least one tensor');
  const be = backendOf('concat', xs);
  const first = xs[0]!;
  const ax = normAxis('concat', axis, first.rank);
  for (const t of xs) {
    sameDType('concat', first, t);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new ShapeError('concat', `shapes ${fmtShape(first.shape)} and ${fmtShape(t.shape)} differ outside axis ${ax}`);
    }
  }
  if (xs.length === 1) return reshape(first, first.shape);
  const shape = [...first.shape];
  shape[ax] = xs.reduce((s, t) => s + t.shape[ax]!, 0);
  const out = wrap(be, be.concat(xs.map((t) => t.info), ax), shape, first.dtype);
  return record('concat', xs, out, (dy) => rules.concat(xs, ax, dy));
}

/** Broadcasts x to `shape` (numpy rules; leading dims may be added). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  const target = broadcastShapes('broadcastTo', x.shape, shape);
  if (!shapesEqual(target, shape)) throw new ShapeError('broadcastTo', `cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  const lifted = x.rank < shape.length ? reshape(x, [...Array(shape.length - x.rank).fill(1), ...x.shape]) : x;
  if (shapesEqual(lifted.shape, shape)) return lifted === x ? reshape(x, shape) : lifted;
  const out = wrap(x.backend, x.backend.expand(lifted.info, shape), [...shape], x.dtype);
  return record('expand', [lifted], out, (dy) => [sumTo(dy, lifted.shape)]);
}

/** Sums a broadcast gradient back down to `shape`. */
export function sumTo(dy: Tensor, shape: Shape): Tensor {
  if (shapesEqual(dy.shape, shape)) return dy;
  const lead = dy.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) if (i < lead || (shape[i - lead] === 1 && dy.shape[i] !== 1)) axes.push(i);
  const r = axes.length ? reduce('sum', dy, axes, true) : dy;
  return reshape(r, shape);
}
