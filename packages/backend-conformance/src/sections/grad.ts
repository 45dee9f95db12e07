import { BINARY_OPS, UNARY_OPS, ops, type BinaryOp } from '@karakoram/core';
import type { Ctx } from '../harness.js';
import type { Rng } from '../prng.js';
import * as R from '../ref.js';
import { BINARY_FN, BROADCAST_PAIRS, COMPARISONS, UNARY_FN, unaryData } from './forward.js';

/** Operands with no ties and no kinks within a finite-difference step. */
function gradBinaryData(op: BinaryOp, rng: Rng, sa: readonly number[], sb: readonly number[]): [R.Arr, R.Arr] {
  if (op === 'pow') return [rng.arr(sa, 0.5, 2), rng.arr(sb, -1.5, 1.5)];
  if (op === 'div') return [rng.arr(sa, -2, 2), rng.signed(sb, 0.5, 2)];
  // Grids 0.1 apart, offset by 0.05 from each other: never within 0.05 of a tie.
  if (op === 'max' || op === 'min' || COMPARISONS.includes(op)) return [rng.distinct(sa, 0.1, 0.0125), rng.distinct(sb, 0.1, 0.0625)];
  return [rng.arr(sa, -2, 2), rng.arr(sb, -2, 2)];
}

export function gradSection(c: Ctx): void {
  c.section('unary', () => {
    for (const op of UNARY_OPS) {
      c.test(op, (rng) => c.gradCheck(rng, [unaryData(op, rng, [3, 4])], (x) => UNARY_FN[op](x), (x) => R.unary(op, x), op));
    }
  });

  c.section('binary', () => {
    for (const op of BINARY_OPS) {
      c.test(op, async (rng) => {
        for (const [sa, sb] of BROADCAST_PAIRS) {
          const [a, b] = gradBinaryData(op, rng, sa, sb);
          await c.gradCheck(rng, [a, b], (x, y) => BINARY_FN[op](x, y), (x, y) => R.binary(op, x, y), `${op} ${R.fmt(sa)} ${R.fmt(sb)}`);
        }
      });
    }
    c.test('same input twice', async (rng) => {
      await c.gradCheck(rng, [rng.arr([3, 4])], (x) => ops.mul(x, ops.add(x, x)), (x) => R.binary('mul', x, R.binary('add', x, x)), 'x * (x + x)');
    });
  });

  c.test('select', async (rng) => {
    for (const [sc, sa, sb] of [[[3, 4], [3, 4], [3, 4]], [[3, 1], [3, 4], [4]], [[2, 3, 4], [3, 4], []]] as const) {
      const cond = rng.ints(sc, 0, 2);
      await c.gradCheck(rng, [rng.arr(sa), rng.arr(sb)], (a, b) => ops.where(c.T(cond), a, b), (a, b) => R.select(cond, a, b), `select ${R.fmt(sc)} ${R.fmt(sa)} ${R.fmt(sb)}`);
    }
  });

  c.section('reduce', () => {
    for (const op of ['sum', 'max', 'min'] as const) {
      c.test(op, async (rng) => {
        for (const axes of [[0], [1], [2], [1, 2], [0, 2], [0, 1, 2]]) {
          const x = op === 'sum' ? rng.arr([2, 3, 4]) : rng.distinct([2, 3, 4]);
          await c.gradCheck(rng, [x], (t) => ops[op](t, axes, true), (t) => R.reduce(op, t, axes), `${op} over ${R.fmt(axes)}`);
        }
        const x = op === 'sum' ? rng.arr([3, 4]) : rng.distinct([3, 4]);
        await c.gradCheck(rng, [x], (t) => ops[op](t, 1), (t) => R.reshape(R.reduce(op, t, [1]), [3]), `${op} without keepDims`);
      });
    }
    c.test('mean', (rng) => c.gradCheck(rng, [rng.arr([3, 4])], (t) => ops.mean(t, 0), (t) => R.reshape(R.binary('div', R.reduce('sum', t, [0]), R.scalar(3)), [4]), 'mean'));
  });

  c.test('topk', async (rng) => {
    for (const [shape, k] of [[[3, 6], 3], [[2, 2, 5], 2], [[4], 4], [[2, 12], 10]] as const) {
      await c.gradCheck(rng, [rng.distinct(shape)], (x) => ops.topk(x, k).values, (x) => R.topk(x, k).values, `topk ${R.fmt(shape)} k=${k}`);
    }
  });

  c.section('matmul', () => {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        c.test(`trans ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`, async (rng) => {
          for (const [ba, bb] of [[2, 2], [1, 2], [2, 1]] as const) {
            const [m, k, n] = [3, 4, 2];
            const a = rng.arr(tA ? [ba, k, m] : [ba, m, k]);
            const b = rng.arr(tB ? [bb, n, k] : [bb, k, n]);
            await c.gradCheck(rng, [a, b], (x, y) => ops.matmul3(x, y, tA, tB), (x, y) => R.matmul3(x, y, tA, tB), `matmul ${R.fmt(a.shape)} x ${R.fmt(b.shape)} ${tA}/${tB}`);
          }
        });
      }
    }
    c.test('numpy batch broadcast', async (rng) => {
      for (const [sa, sb] of [[[2, 1, 3, 4], [3, 4, 2]], [[3, 4], [2, 4, 2]]] as const) {
        await c.gradCheck(rng, [rng.arr(sa), rng.arr(sb)], (x, y) => ops.matmul(x, y), (x, y) => R.matmul(x, y), `matmul ${R.fmt(sa)} x ${R.fmt(sb)}`);
      }
      await c.gradCheck(rng, [rng.arr([2, 3, 4]), rng.arr([5, 4]), rng.arr([5])], (x, w, b) => ops.linear(x, w, b), (x, w, b) => R.binary('add', R.matmul(x, R.permute(w, [1, 0])), b), 'linear with bias');
    });
  });

  c.test('gather', async (rng) => {
    for (let axis = 0; axis < 3; axis++) {
      const n = [3, 4, 5][axis]!;
      for (const idx of [R.arr([4], [1, 0, 1, n - 1]), R.arr([2, 2], [0, n - 1, n - 1, n - 1])]) {
        await c.gradCheck(rng, [rng.arr([3, 4, 5])], (x) => ops.gather(x, c.T(idx, 'i32'), axis), (x) => R.gather(x, idx, axis), `gather axis ${axis} ${R.fmt(idx.shape)}`);
      }
    }
  });

  c.test('scatterAdd', async (rng) => {
    const shape = [3, 4, 2];
    for (let axis = 0; axis < 3; axis++) {
      const n = shape[axis]!;
      const idx = R.arr([3], [n - 1, 0, n - 1]);
      const us = [...shape.slice(0, axis), 3, ...shape.slice(axis + 1)];
      await c.gradCheck(rng, [rng.arr(us)], (u) => ops.scatterAdd(shape, c.T(idx, 'i32'), u, axis), (u) => R.scatterAdd(shape, idx, u, axis), `scatterAdd axis ${axis}`);
    }
  });

  c.section('movement', () => {
    c.test('slice', async (rng) => {
      await c.gradCheck(rng, [rng.arr([3, 4, 5])], (x) => ops.slice(x, [1, 0, 2], [2, 3, 2]), (x) => R.slice(x, [1, 0, 2], [2, 3, 2]), 'slice');
    });
    c.test('pad', async (rng) => {
      await c.gradCheck(rng, [rng.arr([2, 3])], (x) => ops.pad(x, [1, 0], [2, 1]), (x) => R.pad(x, [1, 0], [2, 1]), 'pad');
    });
    c.test('concat', async (rng) => {
      for (const axis of [0, 1]) {
        const shapes = [[2, 3], [1, 3], [3, 3]].map((s) => (axis === 0 ? s : [3, s[0]!]));
        await c.gradCheck(rng, shapes.map((s) => rng.arr(s)), (...xs) => ops.concat(xs, axis), (...xs) => R.concat(xs, axis), `concat axis ${axis}`);
      }
    });
    c.test('permute', async (rng) => {
      for (const perm of [[2, 0, 1], [1, 0, 2], [0, 2, 1]]) {
        await c.gradCheck(rng, [rng.arr([2, 3, 4])], (x) => ops.permute(x, perm), (x) => R.permute(x, perm), `permute ${R.fmt(perm)}`);
      }
    });
    c.test('expand', async (rng) => {
      for (const [s, to] of [[[1, 3], [2, 3]], [[2, 1, 4], [2, 3, 4]], [[], [2, 2]], [[3], [2, 3]]] as const) {
        await c.gradCheck(rng, [rng.arr(s)], (x) => ops.broadcastTo(x, to), (x) => R.expand(x, to), `expand ${R.fmt(s)} -> ${R.fmt(to)}`);
      }
    });
    c.test('reshape', async (rng) => {
      await c.gradCheck(rng, [rng.arr([2, 6])], (x) => ops.exp(ops.reshape(x, [3, -1])), (x) => R.unary('exp', R.reshape(x, [3, 4])), 'reshape');
    });
  });

  c.section('nn', () => {
    c.test('softmax', (rng) => c.gradCheck(rng, [rng.arr([3, 5], -2, 2)], (x) => ops.softmax(x), (x) => R.softmax(x), 'softmax'));
    c.test('logSoftmax', (rng) => c.gradCheck(rng, [rng.arr([2, 2, 5], -2, 2)], (x) => ops.logSoftmax(x), (x) => R.logSoftmax(x), 'logSoftmax'));
    c.test('logSumExp', async (rng) => {
      for (const axis of [0, 1]) {
        await c.gradCheck(rng, [rng.arr([3, 4], -2, 2)], (x) => ops.logSumExp(x, axis), (x) => R.logSumExp(x, axis, false), `logSumExp axis ${axis}`);
      }
    });
    c.test('attention', async (rng) => {
      // q, k and v each against finite differences: causal with a cached prefix, and a mask.
      await c.gradCheck(rng, [rng.arr([1, 2, 3, 4], -1, 1), rng.arr([1, 2, 5, 4], -1, 1), rng.arr([1, 2, 5, 3], -1, 1)],
        (q, k, v) => ops.attention(q, k, v, { scale: 0.6, causal: true }).out,
        (q, k, v) => R.attention(q, k, v, 0.6, true).out, 'attention causal S > T');
      const mask = R.build([2, 1, 3, 3], ([b, , i, j]) => (j! > i! && b === 1 ? -1e9 : 0.1 * (i! - j!)));
      await c.gradCheck(rng, [rng.arr([2, 2, 3, 2], -1, 1), rng.arr([2, 2, 3, 2], -1, 1), rng.arr([2, 2, 3, 3], -1, 1)],
        (q, k, v) => ops.attention(q, k, v, { scale: 1.1, mask: c.T(mask) }).out,
        (q, k, v) => R.attention(q, k, v, 1.1, false, mask).out, 'attention with mask');
    });
    c.test('split (one node, unused pieces)', async (rng) => {
      // Only pieces 0 and 2 reach the loss: piece 1's gradient is zero, the rest flows back whole.
      await c.gradCheck(rng, [rng.arr([3, 7])], (x) => {
        const [a, , b] = ops.split(x, [2, 3, 2], 1);
        return ops.concat([ops.exp(a!), ops.mul(b!, b!)], 1);
      }, (x) => R.concat([R.unary('exp', R.slice(x, [0, 0], [3, 2])), R.binary('mul', R.slice(x, [0, 5], [3, 2]), R.slice(x, [0, 5], [3, 2]))], 1), 'split');
    });
    c.test('rmsNorm', (rng) => c.gradCheck(rng, [rng.arr([3, 6], -2, 2), rng.arr([6], 0.5, 1.5)], (x, w) => ops.rmsNorm(x, w, 1e-5), (x, w) => R.rmsNorm(x, w, 1e-5), 'rmsNorm'));
    c.test('crossEntropy', async (rng) => {
      const targets = rng.ints([2, 3], 0, 5);
      const mask = R.arr([2, 3], [1, 1, 0, 0, 1, 1]);
      await c.gradCheck(rng, [rng.arr([2, 3, 5], -2, 2)], (x) => ops.crossEntropy(x, c.T(targets, 'i32')), (x) => R.crossEntropy(x, targets), 'crossEntropy');
      await c.gradCheck(rng, [rng.arr([2, 3, 5], -2, 2)], (x) => ops.crossEntropy(x, c.T(targets, 'i32'), c.T(mask)), (x) => R.crossEntropy(x, targets, mask), 'crossEntropy with mask');
    });
    c.test('silu and swiglu', async (rng) => {
      const silu = (x: R.Arr) => R.binary('mul', x, R.unary('sigmoid', x));
      await c.gradCheck(rng, [rng.arr([3, 4], -3, 3)], (x) => ops.silu(x), silu, 'silu');
      await c.gradCheck(rng, [rng.arr([3, 4], -3, 3), rng.arr([3, 4])], (g, u) => ops.swiglu(g, u), (g, u) => R.binary('mul', silu(g), u), 'swiglu');
    });
  });

  c.test('views feeding ops', async (rng) => {
    // Transposed and sliced intermediates feed matmul and reductions.
    await c.gradCheck(
      rng,
      [rng.arr([4, 3]), rng.arr([5, 4])],
      (a, b) => ops.sum(ops.matmul(ops.transpose(a), ops.slice(ops.transpose(b), [0, 1], [4, 3])), 0),
      (a, b) => R.reshape(R.reduce('sum', R.matmul(R.permute(a, [1, 0]), R.slice(R.permute(b, [1, 0]), [0, 1], [4, 3])), [0]), [3]),
      'matmul of views',
    );
  });
}
