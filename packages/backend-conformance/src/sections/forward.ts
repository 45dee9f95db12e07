import { expect } from 'vitest';
import { BINARY_OPS, UNARY_OPS, ops, type BinaryOp, type Tensor, type UnaryOp } from '@karakoram/core';
import type { Ctx } from '../harness.js';
import type { Rng } from '../prng.js';
import * as R from '../ref.js';

export const UNARY_FN: Record<UnaryOp, (x: Tensor) => Tensor> = {
  neg: ops.neg, exp: ops.exp, log: ops.log, sqrt: ops.sqrt, rsqrt: ops.rsqrt, reciprocal: ops.reciprocal,
  sin: ops.sin, cos: ops.cos, tanh: ops.tanh, sigmoid: ops.sigmoid, abs: ops.abs, sign: ops.sign,
  floor: ops.floor, square: ops.square,
};

export const BINARY_FN: Record<BinaryOp, (a: Tensor, b: Tensor) => Tensor> = {
  add: ops.add, sub: ops.sub, mul: ops.mul, div: ops.div, pow: ops.pow, max: ops.maximum, min: ops.minimum,
  eq: ops.equal, ne: ops.notEqual, lt: ops.less, le: ops.lessEqual, gt: ops.greater, ge: ops.greaterEqual,
};

export const COMPARISONS: readonly BinaryOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];

/** Data in each unary op's domain, away from its kinks (for finite differences too). */
export function unaryData(op: UnaryOp, rng: Rng, shape: readonly number[]): R.Arr {
  switch (op) {
    case 'log': case 'sqrt': case 'rsqrt': case 'reciprocal': return rng.arr(shape, 0.25, 3);
    case 'abs': case 'sign': return rng.signed(shape, 0.05, 2);
    case 'floor': return R.arr(shape, rng.arr(shape, -3, 3).data.map((v) => Math.fround(Math.floor(v) + 0.1 + 0.8 * (v - Math.floor(v)))));
    default: return rng.arr(shape, -3, 3);
  }
}

/** Operands for a binary op: positive bases for pow, divisors away from 0, ties for comparisons. */
export function binaryData(op: BinaryOp, rng: Rng, sa: readonly number[], sb: readonly number[]): [R.Arr, R.Arr] {
  if (op === 'pow') return [rng.arr(sa, 0.25, 2.5), rng.arr(sb, -2, 2)];
  if (op === 'div') return [rng.arr(sa, -2, 2), rng.signed(sb, 0.25, 2)];
  if (COMPARISONS.includes(op) || op === 'max' || op === 'min') {
    const ints = (s: readonly number[]) => rng.ints(s, -2, 3);
    return [ints(sa), ints(sb)];
  }
  return [rng.arr(sa, -2, 2), rng.arr(sb, -2, 2)];
}

export const BROADCAST_PAIRS: readonly (readonly [number[], number[]])[] = [
  [[3, 4], [3, 4]],
  [[3, 4], [4]],
  [[4], [3, 4]],
  [[2, 1, 4], [3, 1]],
  [[], [3, 4]],
  [[3, 4], []],
  [[3, 1], [1, 4]],
];

const AXIS_SETS: readonly number[][] = [[], [0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]];

export function forwardSection(c: Ctx): void {
  c.section('unary', () => {
    for (const op of UNARY_OPS) {
      c.test(op, async (rng) => {
        const x = unaryData(op, rng, [3, 5]);
        const sign = op === 'sign' ? R.arr([3], [0, -0, 1]) : undefined;
        const y = await c.run1(() => UNARY_FN[op](c.T(x)));
        c.dtype(y, 'f32', op);
        c.close(y, R.unary(op, x), op);
        if (sign) c.exact(await c.run1(() => ops.sign(c.T(sign))), R.arr([3], [0, 0, 1]), 'sign of zero');
      });
    }
    c.test('i32', async (rng) => {
      const x = rng.ints([2, 5], -9, 10);
      for (const op of ['neg', 'abs', 'sign', 'square'] as const) {
        const y = await c.run1(() => UNARY_FN[op](c.T(x, 'i32')));
        c.dtype(y, 'i32', op);
        c.exact(y, R.unary(op, x), `${op} on i32`);
      }
    });
  });

  c.section('binary', () => {
    for (const op of BINARY_OPS) {
      c.test(op, async (rng) => {
        for (const [sa, sb] of BROADCAST_PAIRS) {
          const [a, b] = binaryData(op, rng, sa, sb);
          const y = await c.run1(() => BINARY_FN[op](c.T(a), c.T(b)));
          const what = `${op} ${R.fmt(sa)} ${R.fmt(sb)}`;
          c.dtype(y, 'f32', what);
          if (COMPARISONS.includes(op) || op === 'max' || op === 'min') c.exact(y, R.binary(op, a, b), what);
          else c.close(y, R.binary(op, a, b), what);
        }
      });
    }
    c.test('i32', async (rng) => {
      for (const op of ['add', 'sub', 'mul', 'max', 'min', ...COMPARISONS] as BinaryOp[]) {
        for (const [sa, sb] of [[[3, 4], [3, 4]], [[3, 4], [4]], [[2, 1, 4], [3, 1]], [[], [3, 4]]] as const) {
          const a = rng.ints(sa, -5, 6);
          const b = rng.ints(sb, -5, 6);
          const y = await c.run1(() => BINARY_FN[op](c.T(a, 'i32'), c.T(b, 'i32')));
          c.dtype(y, 'i32', op);
          c.exact(y, R.binary(op, a, b), `${op} on i32 ${R.fmt(sa)} ${R.fmt(sb)}`);
        }
      }
    });
  });

  c.test('select', async (rng) => {
    const cases: [number[], number[], number[]][] = [
      [[3, 4], [3, 4], [3, 4]],
      [[3, 1], [3, 4], [4]],
      [[2, 3, 4], [3, 4], []],
      [[], [2, 3], [2, 3]],
    ];
    for (const [sc, sa, sb] of cases) {
      // Any nonzero means true, negative and fractional values included.
      const cond = R.arr(sc, rng.ints(sc, -1, 3).data.map((v) => (v === 2 ? 0.5 : v)));
      const a = rng.arr(sa);
      const b = rng.arr(sb);
      const y = await c.run1(() => ops.where(c.T(cond), c.T(a), c.T(b)));
      c.exact(y, R.select(cond, a, b), `select ${R.fmt(sc)} ${R.fmt(sa)} ${R.fmt(sb)}`);
      const yi = await c.run1(() => ops.where(c.T(R.unary('abs', cond), 'i32'), c.T(a), c.T(b)));
      c.exact(yi, R.select(R.castToInt(R.unary('abs', cond)), a, b), 'select with an i32 condition');
    }
    const ai = rng.ints([2, 3], -50, 50);
    const bi = rng.ints([3], -50, 50);
    const cond = rng.ints([2, 1], 0, 2);
    const y = await c.run1(() => ops.where(c.T(cond), c.T(ai, 'i32'), c.T(bi, 'i32')));
    c.dtype(y, 'i32', 'select i32');
    c.exact(y, R.select(cond, ai, bi), 'select of i32 values');
  });

  c.test('cast', async () => {
    const x = R.arr([2, 6], [-2.75, -1.5, -0.5, -0, 0.25, 0.999, 1.5, 2.999, 100.9, -100.9, 16777216, -123456]);
    const yi = await c.run1(() => ops.cast(c.T(x), 'i32'));
    c.dtype(yi, 'i32', 'f32 -> i32');
    c.exact(yi, R.castToInt(x), 'f32 -> i32 truncates toward zero');
    const n = R.arr([7], [-5, 0, 3, 16777216, -16777216, 2147483520, 1]);
    const yf = await c.run1(() => ops.cast(c.T(n, 'i32'), 'f32'));
    c.dtype(yf, 'f32', 'i32 -> f32');
    c.exact(yf, n, 'i32 -> f32');
    const same = await c.run1(() => ops.cast(c.T(x), 'f32'));
    c.exact(same, R.arr(x.shape, Float32Array.from(x.data)), 'f32 -> f32');
  });

  c.section('reduce', () => {
    for (const op of ['sum', 'max', 'min'] as const) {
      c.test(op, async (rng) => {
        const x = rng.arr([2, 3, 4], -3, 3);
        for (const axes of AXIS_SETS) {
          const y = await c.run1(() => ops[op](c.T(x), axes, true));
          const what = `${op} over ${R.fmt(axes)}`;
          if (op === 'sum') c.close(y, R.reduce(op, x, axes), what);
          else c.exact(y, R.reduce(op, x, axes), what);
        }
        // Without keepDims, the reduced axes go.
        const y = await c.run1(() => ops[op](c.T(x), [0, 2]));
        c.close(y, R.reshape(R.reduce(op, x, [0, 2]), [3]), `${op} over [0, 2] without keepDims`);
        // A size-1 axis, rank 0, a longer axis (blocked reductions).
        const s = rng.arr([3, 1, 5]);
        c.close(await c.run1(() => ops[op](c.T(s), 1, true)), R.reduce(op, s, [1]), `${op} over a size-1 axis`);
        const z = R.scalar(1.5);
        c.close(await c.run1(() => ops[op](c.T(z))), z, `${op} of a scalar`);
        const long = rng.arr([3, 1000], -1, 1);
        c.close(await c.run1(() => ops[op](c.T(long), 1, true)), R.reduce(op, long, [1]), `${op} over 1000 elements`, 1e-4);
        c.close(await c.run1(() => ops[op](c.T(long), 0, true)), R.reduce(op, long, [0]), `${op} over a leading axis`);
        const xi = rng.ints([2, 3, 4], -20, 20);
        for (const axes of [[0], [2], [0, 1, 2]]) {
          const yi = await c.run1(() => ops[op](c.T(xi, 'i32'), axes, true));
          c.dtype(yi, 'i32', `${op} i32`);
          c.exact(yi, R.reduce(op, xi, axes), `${op} of i32 over ${R.fmt(axes)}`);
        }
      });
    }
  });

  c.section('topk', () => {
    const check = async (x: R.Arr, k: number, what: string): Promise<void> => {
      const [v, i] = await c.run(() => {
        const r = ops.topk(c.T(x), k);
        return [r.values, r.indices];
      });
      const want = R.topk(x, k);
      c.dtype(i!, 'i32', `${what}: indices`);
      c.exact(v!, want.values, `${what}: values`);
      c.exact(i!, want.indices, `${what}: indices`);
    };
    c.test('distinct', async (rng) => {
      const x = rng.arr([3, 7], -5, 5);
      for (const k of [0, 1, 3, 7]) await check(x, k, `k=${k} of 7`);
      await check(rng.arr([2, 2, 5]), 2, 'rank 3');
      await check(rng.arr([9]), 4, 'rank 1');
      await check(rng.arr([2, 40]), 16, 'k=16 of 40');
      await check(rng.arr([2, 40]), 40, 'k=40 of 40');
    });
    c.test('ties', async (rng) => {
      const x = R.arr([3, 7], [1, 3, 3, 2, 3, 1, 0, 5, 5, 5, 5, 5, 5, 5, -1, -2, -1, -2, -1, -2, -1]);
      for (const k of [0, 1, 2, 4, 7]) await check(x, k, `ties, k=${k}`);
      // Many ties in long rows (the sort path for large k).
      const long = rng.ints([2, 30], 0, 4);
      for (const k of [3, 12, 30]) await check(long, k, `ties, k=${k} of 30`);
      await check(R.arr([1, 4], [-Infinity, 2, Infinity, 2]), 4, 'infinities');
    });
  });

  c.section('matmul', () => {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        c.test(`trans ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`, async (rng) => {
          for (const [ba, bb] of [[2, 2], [1, 3], [3, 1], [1, 1]] as const) {
            for (const [m, k, n] of [[3, 4, 5], [1, 1, 1], [7, 1, 2], [17, 33, 19]] as const) {
              const a = rng.arr(tA ? [ba, k, m] : [ba, m, k]);
              const b = rng.arr(tB ? [bb, n, k] : [bb, k, n]);
              const y = await c.run1(() => ops.matmul3(c.T(a), c.T(b), tA, tB));
              c.close(y, R.matmul3(a, b, tA, tB), `matmul ${R.fmt(a.shape)}${tA ? 'ᵀ' : ''} x ${R.fmt(b.shape)}${tB ? 'ᵀ' : ''}`, c.tol.atol * Math.sqrt(k), c.tol.rtol * 10);
            }
          }
        });
      }
    }
    c.test('larger', async (rng) => {
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const [m, k, n] = [37, 70, 45];
        const a = rng.arr(tA ? [1, k, m] : [1, m, k]);
        const b = rng.arr(tB ? [2, n, k] : [2, k, n]);
        const y = await c.run1(() => ops.matmul3(c.T(a), c.T(b), tA, tB));
        c.close(y, R.matmul3(a, b, tA, tB), `matmul ${R.fmt(a.shape)} x ${R.fmt(b.shape)} ${tA}/${tB}`, c.tol.atol * 10, c.tol.rtol * 10);
      }
    });
    c.test('numpy batch broadcast', async (rng) => {
      for (const [sa, sb] of [[[2, 1, 3, 4], [3, 4, 5]], [[3, 4], [2, 4, 5]], [[2, 3, 4], [4, 5]], [[1, 3, 4], [2, 1, 4, 2]]] as const) {
        const a = rng.arr(sa);
        const b = rng.arr(sb);
        const y = await c.run1(() => ops.matmul(c.T(a), c.T(b)));
        c.close(y, R.matmul(a, b), `matmul ${R.fmt(sa)} x ${R.fmt(sb)}`);
      }
      const x = rng.arr([2, 3, 4]);
      const w = rng.arr([5, 4]);
      const y = await c.run1(() => ops.linear(c.T(x), c.T(w)));
      c.close(y, R.matmul(x, R.permute(w, [1, 0])), 'linear (x · Wᵀ)');
    });
  });

  c.section('gather', () => {
    c.test('axes and duplicates', async (rng) => {
      const x = rng.arr([3, 4, 5]);
      const xi = rng.ints([3, 4, 5], -100, 100);
      for (let axis = 0; axis < 3; axis++) {
        const n = x.shape[axis]!;
        const idxs = [
          R.arr([4], [n - 1, 0, n - 1, 1]),
          R.arr([2, 3], [0, n - 1, 0, 1, 1, n - 1]),
          R.arr([], [n - 1]),
          R.arr([1], [0]),
        ];
        for (const idx of idxs) {
          const y = await c.run1(() => ops.gather(c.T(x), c.T(idx, 'i32'), axis));
          c.exact(y, R.gather(x, idx, axis), `gather axis ${axis} indices ${R.fmt(idx.shape)}`);
          const yi = await c.run1(() => ops.gather(c.T(xi, 'i32'), c.T(idx, 'i32'), axis));
          c.dtype(yi, 'i32', 'gather i32');
          c.exact(yi, R.gather(xi, idx, axis), `gather of i32 axis ${axis}`);
        }
      }
      const y = await c.run1(() => ops.gather(c.T(x), c.T(R.arr([2], [1, 0]), 'i32'), -1));
      c.exact(y, R.gather(x, R.arr([2], [1, 0]), 2), 'gather on axis -1');
    });
  });

  c.section('scatterAdd', () => {
    c.test('axes and duplicates', async (rng) => {
      const shape = [3, 4, 5];
      for (let axis = 0; axis < 3; axis++) {
        const n = shape[axis]!;
        for (const idx of [R.arr([5], [n - 1, 0, n - 1, 1, n - 1]), R.arr([2, 2], [0, 0, n - 1, 0]), R.arr([], [1])]) {
          const us = [...shape.slice(0, axis), ...idx.shape, ...shape.slice(axis + 1)];
          const u = rng.arr(us);
          const y = await c.run1(() => ops.scatterAdd(shape, c.T(idx, 'i32'), c.T(u), axis));
          c.close(y, R.scatterAdd(shape, idx, u, axis), `scatterAdd axis ${axis} indices ${R.fmt(idx.shape)}`);
        }
      }
    });
  });

  c.test('permute', async (rng) => {
    const x = rng.arr([2, 3, 4]);
    for (const perm of [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]) {
      c.exact(await c.run1(() => ops.permute(c.T(x), perm)), R.permute(x, perm), `permute ${R.fmt(perm)}`);
    }
    const x4 = rng.arr([2, 3, 4, 5]);
    for (const perm of [[3, 1, 0, 2], [0, 2, 1, 3], [1, 0, 3, 2], [3, 2, 1, 0]]) {
      c.exact(await c.run1(() => ops.permute(c.T(x4), perm)), R.permute(x4, perm), `permute ${R.fmt(perm)}`);
    }
    const m = rng.arr([33, 17]);
    c.exact(await c.run1(() => ops.transpose(c.T(m))), R.permute(m, [1, 0]), 'transpose [33, 17]');
    const xi = rng.ints([2, 3, 4], -9, 9);
    c.exact(await c.run1(() => ops.permute(c.T(xi, 'i32'), [2, 0, 1])), R.permute(xi, [2, 0, 1]), 'permute i32');
  });

  c.test('slice', async (rng) => {
    const x = rng.arr([4, 5, 6]);
    const cases: [number[], number[]][] = [
      [[1, 0, 2], [2, 5, 3]],
      [[0, 0, 0], [4, 5, 6]],
      [[3, 4, 5], [1, 1, 1]],
      [[0, 2, 1], [4, 1, 5]],
      [[2, 1, 0], [2, 3, 6]],
    ];
    for (const [b, s] of cases) c.exact(await c.run1(() => ops.slice(c.T(x), b, s)), R.slice(x, b, s), `slice ${R.fmt(b)} ${R.fmt(s)}`);
    c.exact(await c.run1(() => ops.slice(c.T(x), [1, 2, 3], [-1, -1, -1])), R.slice(x, [1, 2, 3], [3, 3, 3]), 'slice with size -1 (to the end)');
    const xi = rng.ints([4, 5], -9, 9);
    c.exact(await c.run1(() => ops.slice(c.T(xi, 'i32'), [1, 1], [2, 3])), R.slice(xi, [1, 1], [2, 3]), 'slice i32');
  });

  c.test('pad', async (rng) => {
    const cases: [number[], number[], number[]][] = [
      [[2, 3], [1, 0], [0, 2]],
      [[2, 3, 4], [0, 1, 2], [2, 0, 1]],
      [[2, 3], [0, 0], [0, 0]],
      [[5], [3], [4]],
    ];
    for (const [s, b, a] of cases) {
      const x = rng.arr(s);
      c.exact(await c.run1(() => ops.pad(c.T(x), b, a)), R.pad(x, b, a), `pad ${R.fmt(s)} ${R.fmt(b)} ${R.fmt(a)}`);
    }
    const xi = rng.ints([2, 2], 1, 9);
    c.exact(await c.run1(() => ops.pad(c.T(xi, 'i32'), [1, 1], [1, 1])), R.pad(xi, [1, 1], [1, 1]), 'pad i32');
  });

  c.test('concat', async (rng) => {
    for (let axis = 0; axis < 3; axis++) {
      const shapes = [1, 3, 2].map((n) => [2, 3, 4].map((d, i) => (i === axis ? n : d)));
      const xs = shapes.map((s) => rng.arr(s));
      c.exact(await c.run1(() => ops.concat(xs.map((x) => c.T(x)), axis)), R.concat(xs, axis), `concat axis ${axis}`);
      const xi = shapes.map((s) => rng.ints(s, -9, 9));
      c.exact(await c.run1(() => ops.concat(xi.map((x) => c.T(x, 'i32')), axis)), R.concat(xi, axis), `concat i32 axis ${axis}`);
    }
    const two = [rng.arr([3]), rng.arr([5])];
    c.exact(await c.run1(() => ops.concat(two.map((x) => c.T(x)), -1)), R.concat(two, 0), 'concat rank 1 on axis -1');
  });

  c.test('expand', async (rng) => {
    const cases: [number[], number[]][] = [
      [[1, 3], [2, 3]],
      [[2, 1, 4], [2, 3, 4]],
      [[1, 1], [3, 4]],
      [[], [2, 2]],
      [[3], [2, 3]],
      [[4, 1], [2, 4, 3]],
    ];
    for (const [s, to] of cases) {
      const x = rng.arr(s);
      c.exact(await c.run1(() => ops.broadcastTo(c.T(x), to)), R.expand(x, to), `expand ${R.fmt(s)} -> ${R.fmt(to)}`);
    }
    const xi = rng.ints([1, 3], -9, 9);
    c.exact(await c.run1(() => ops.broadcastTo(c.T(xi, 'i32'), [2, 3])), R.expand(xi, [2, 3]), 'expand i32');
  });

  c.test('fill', async () => {
    const f = await c.run1(() => ops.full([2, 3], 1.5));
    c.dtype(f, 'f32', 'fill f32');
    c.exact(f, R.build([2, 3], () => 1.5), 'fill 1.5');
    const i = await c.run1(() => ops.full([4], -7, 'i32'));
    c.dtype(i, 'i32', 'fill i32');
    c.exact(i, R.build([4], () => -7), 'fill i32 -7');
    c.exact(await c.run1(() => ops.zeros([3, 1, 2])), R.build([3, 1, 2], () => 0), 'zeros');
    c.exact(await c.run1(() => ops.full([], 3.25)), R.scalar(3.25), 'fill of a scalar');
    c.exact(await c.run1(() => ops.full([2], -Infinity)), R.build([2], () => -Infinity), 'fill -Infinity');
    const e = await c.run1(() => ops.full([0, 4], 2));
    expect(e.shape).toEqual([0, 4]);
    expect(e.data.length).toBe(0);
  });
}
