/**
 * One gradient rule per primitive, in one place (tinygrad's lesson). Each rule returns the
 * cotangent of every differentiable input, written with frontend ops so it runs on any backend.
 * Broadcast inputs get their cotangent summed back to their own shape.
 */
import type { BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import type { Tensor } from '../tensor.js';
import * as P from '../ops/primitives.js';
import * as M from '../ops/math.js';

type Grads = (Tensor | null)[];

function unary(op: UnaryOp, x: Tensor, y: Tensor, dy: Tensor): Grads {
  switch (op) {
    case 'neg': return [M.neg(dy)];
    case 'exp': return [M.mul(dy, y)];
    case 'log': return [M.div(dy, x)];
    case 'sqrt': return [M.div(M.mul(dy, 0.5), y)];
    case 'rsqrt': return [M.mul(M.mul(dy, -0.5), M.mul(y, M.square(y)))];
    case 'reciprocal': return [M.neg(M.mul(dy, M.square(y)))];
    case 'sin': return [M.mul(dy, M.cos(x))];
    case 'cos': return [M.neg(M.mul(dy, M.sin(x)))];
    case 'tanh': return [M.mul(dy, M.sub(1, M.square(y)))];
    case 'sigmoid': return [M.mul(dy, M.mul(y, M.sub(1, y)))];
    case 'abs': return [M.mul(dy, M.sign(x))];
    case 'square': return [M.mul(dy, M.mul(x, 2))];
    case 'sign':
    case 'floor': return [M.zerosLike(x)];
  }
}

function binary(op: BinaryOp, a: Tensor, b: Tensor, y: Tensor, dy: Tensor): Grads {
  const back = (g: Tensor | null, t: Tensor): Tensor | null => (g ? P.sumTo(g, t.shape) : null);
  switch (op) {
    case 'add': return [back(dy, a), back(dy, b)];
    case 'sub': return [back(dy, a), back(M.neg(dy), b)];
    case 'mul': return [back(M.mul(dy, b), a), back(M.mul(dy, a), b)];
    case 'div': return [back(M.div(dy, b), a), back(M.neg(M.div(M.mul(dy, y), b)), b)];
    case 'pow': {
      const da = M.mul(dy, M.mul(b, M.pow(a, M.sub(b, 1))));
      // d/db a^b = a^b ln a; defined as 0 where a <= 0 (as torch does for a == 0).
      const lnA = M.where(M.greater(a, 0), M.log(M.maximum(a, 1e-30)), 0);
      return [back(da, a), back(M.mul(dy, M.mul(y, lnA)), b)];
    }
    case 'max':
    case 'min': {
      // Ties split the gradient evenly, as torch does for maximum/minimum.
      const ea = M.cast(M.equal(a, y), 'f32');
      const eb = M.cast(M.equal(b, y), 'f32');
      const share = M.div(dy, M.add(ea, eb));
      return [back(M.mul(share, ea), a), back(M.mul(share, eb), b)];
    }
    default: return [null, null];
  }
}

function select(cond: Tensor, a: Tensor, b: Tensor, dy: Tensor): Grads {
  const z = M.zerosLike(dy);
  return [P.sumTo(M.where(cond, dy, z), a.shape), P.sumTo(M.where(cond, z, dy), b.shape)];
}

function reduce(op: ReduceOp, x: Tensor, y: Tensor, dy: Tensor): Grads {
  const g = P.reshape(dy, y.shape);
  if (op === 'sum') return [P.broadcastTo(g, x.shape)];
  const hit = M.cast(M.equal(x, y), 'f32');
  const count = M.sum(hit, y.shape.flatMap((d, i) => (d === 1 && x.shape[i] !== 1 ? [i] : [])), true);
  return [M.mul(hit, M.div(g, count))];
}

function topk(x: Tensor, indices: Tensor, dy: Tensor): Grads {
  const n = x.shape[x.rank - 1]!;
  const rows = x.size / Math.max(1, n);
  const k = indices.shape[indices.rank - 1]!;
  const base = M.mul(P.reshape(M.arange(rows, 'i32', x.backend), [rows, 1]), n);
  const flat = P.reshape(M.add(P.reshape(indices, [rows, k]), base), [rows * k]);
  const dx = P.scatterAdd([rows * n], flat, P.reshape(dy, [rows * k]), 0);
  return [P.reshape(dx, x.shape)];
}

function matmul(a: Tensor, b: Tensor, tA: boolean, tB: boolean, dy: Tensor): Grads {
  let da = tA ? P.matmul3(b, dy, tB, true) : P.matmul3(dy, b, false, !tB);
  let db = tB ? P.matmul3(dy, a, true, tA) : P.matmul3(a, dy, !tA, false);
  if (a.shape[0] === 1 && da.shape[0] !== 1) da = M.sum(da, 0, true);
  if (b.shape[0] === 1 && db.shape[0] !== 1) db = M.sum(db, 0, true);
  return [da, db];
}

function gather(x: Tensor, indices: Tensor, axis: number, dy: Tensor): Grads {
  return [P.scatterAdd(x.shape, indices, dy, axis)];
}

function scatterAdd(indices: Tensor, axis: number, dy: Tensor): Grads {
  return [P.gather(dy, indices, axis)];
}

function permute(perm: readonly number[], dy: Tensor): Grads {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return [P.permute(dy, inv)];
}

function concat(xs: readonly Tensor[], axis: number, dy: Tensor): Grads {
  return M.split(dy, xs.map((t) => t.shape[axis]!), axis);
}

export const rules = { unary, binary, select, reduce, topk, matmul, gather, scatterAdd, permute, concat };
