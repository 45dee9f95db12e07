import { expect } from 'vitest';
import { ops, type Tensor } from '@karakoram/core';
import type { Ctx } from '../harness.js';
import * as R from '../ref.js';

const empty = (shape: readonly number[]): R.Arr => R.arr(shape, []);

export function edgeSection(c: Ctx): void {
  c.section('empty', () => {
    c.test('elementwise', async (rng) => {
      const x = empty([0, 3]);
      c.exact(await c.run1(() => ops.exp(c.T(x))), x, 'exp of [0, 3]');
      c.exact(await c.run1(() => ops.add(c.T(x), c.T(rng.arr([3])))), x, 'add [0, 3] + [3]');
      c.exact(await c.run1(() => ops.mul(c.T(empty([0, 1])), c.T(rng.arr([1, 3])))), x, 'mul [0, 1] * [1, 3] -> [0, 3]');
      c.exact(await c.run1(() => ops.where(c.T(empty([0, 3])), c.T(rng.arr([3])), c.T(R.scalar(1)))), x, 'select into [0, 3]');
      c.exact(await c.run1(() => ops.cast(c.T(x), 'i32')), x, 'cast of [0, 3]');
      c.exact(await c.run1(() => ops.broadcastTo(c.T(empty([1, 0])), [3, 0])), empty([3, 0]), 'expand [1, 0] -> [3, 0]');
      c.exact(await c.run1(() => ops.randomUniform([0, 2], 1)), empty([0, 2]), 'random of [0, 2]');
    });
    c.test('reduce sum', async () => {
      const x = empty([0, 3]);
      c.exact(await c.run1(() => ops.sum(c.T(x), 0)), R.build([3], () => 0), 'sum of [0, 3] over axis 0 is zeros');
      c.exact(await c.run1(() => ops.sum(c.T(x), 0, true)), R.build([1, 3], () => 0), 'keepDims');
      c.exact(await c.run1(() => ops.sum(c.T(x), 1)), empty([0]), 'sum of [0, 3] over axis 1 is empty');
      c.exact(await c.run1(() => ops.sum(c.T(x))), R.scalar(0), 'sum of all of [0, 3] is 0');
    });
    c.test('matmul', async (rng) => {
      c.exact(await c.run1(() => ops.matmul(c.T(empty([2, 0])), c.T(empty([0, 3])))), R.build([2, 3], () => 0), 'k = 0 gives zeros');
      for (const [tA, tB] of [[true, false], [false, true], [true, true]] as const) {
        const a = empty(tA ? [1, 0, 2] : [1, 2, 0]);
        const b = empty(tB ? [1, 3, 0] : [1, 0, 3]);
        c.exact(await c.run1(() => ops.matmul3(c.T(a), c.T(b), tA, tB)), R.build([1, 2, 3], () => 0), `k = 0 with transposes ${tA}/${tB}`);
      }
      c.exact(await c.run1(() => ops.matmul(c.T(empty([0, 4])), c.T(rng.arr([4, 3])))), empty([0, 3]), 'm = 0');
      c.exact(await c.run1(() => ops.matmul(c.T(rng.arr([2, 4])), c.T(empty([4, 0])))), empty([2, 0]), 'n = 0');
      c.exact(await c.run1(() => ops.matmul3(c.T(empty([0, 2, 3])), c.T(empty([0, 3, 4])), false, false)), empty([0, 2, 4]), 'batch 0');
    });
    c.test('movement and indexing', async (rng) => {
      const x = rng.arr([2, 3]);
      c.exact(await c.run1(() => ops.concat([c.T(empty([2, 0])), c.T(x)], 1)), x, 'concat with an empty piece');
      c.exact(await c.run1(() => ops.concat([c.T(empty([0, 3])), c.T(x), c.T(empty([0, 3]))], 0)), x, 'concat with empty pieces on axis 0');
      c.exact(await c.run1(() => ops.slice(c.T(x), [1, 1], [0, 2])), empty([0, 2]), 'empty slice');
      c.exact(await c.run1(() => ops.pad(c.T(empty([0, 2])), [1, 0], [0, 1])), R.build([1, 3], () => 0), 'pad of empty');
      c.exact(await c.run1(() => ops.permute(c.T(empty([0, 3, 2])), [2, 0, 1])), empty([2, 0, 3]), 'permute of empty');
      c.exact(await c.run1(() => ops.gather(c.T(rng.arr([4, 5])), c.T(empty([0]), 'i32'), 0)), empty([0, 5]), 'gather with no indices');
      c.exact(await c.run1(() => ops.gather(c.T(empty([0, 5])), c.T(R.arr([2], [1, 3]), 'i32'), 1)), empty([0, 2]), 'gather from an empty batch');
      c.exact(await c.run1(() => ops.scatterAdd([3, 2], c.T(empty([0]), 'i32'), c.T(empty([0, 2])), 0)), R.build([3, 2], () => 0), 'scatterAdd of nothing');
      const [v, i] = await c.run(() => {
        const r = ops.topk(c.T(rng.arr([3, 4])), 0);
        return [r.values, r.indices];
      });
      c.exact(v!, empty([3, 0]), 'topk k=0 values');
      c.exact(i!, empty([3, 0]), 'topk k=0 indices');
      const [v2] = await c.run(() => {
        const r = ops.topk(c.T(empty([0, 4])), 2);
        return [r.values, r.indices];
      });
      c.exact(v2!, empty([0, 2]), 'topk of zero rows');
    });
  });

  c.section('scalar', () => {
    c.test('elementwise and reduce', async () => {
      const s = R.scalar(0.75);
      c.close(await c.run1(() => ops.exp(c.T(s))), R.unary('exp', s), 'exp of a scalar');
      c.close(await c.run1(() => ops.sub(c.T(s), c.T(R.scalar(2)))), R.scalar(-1.25), 'scalar - scalar');
      c.exact(await c.run1(() => ops.sum(c.T(s))), s, 'sum of a scalar');
      c.exact(await c.run1(() => ops.max(c.T(s))), s, 'max of a scalar');
      c.exact(await c.run1(() => ops.cast(c.T(s), 'i32')), R.scalar(0), 'cast of a scalar');
    });
    c.test('movement', async () => {
      const s = R.scalar(2.5);
      c.exact(await c.run1(() => ops.slice(c.T(s), [], [])), s, 'slice of a scalar');
      c.exact(await c.run1(() => ops.pad(c.T(s), [], [])), s, 'pad of a scalar');
      c.exact(await c.run1(() => ops.permute(c.T(s), [])), s, 'permute of a scalar');
      c.exact(await c.run1(() => ops.reshape(c.T(s), [1, 1])), R.arr([1, 1], [2.5]), 'reshape of a scalar');
      c.exact(await c.run1(() => ops.broadcastTo(c.T(s), [2, 3])), R.build([2, 3], () => 2.5), 'broadcast a scalar');
      c.exact(await c.run1(() => ops.gather(c.T(R.arr([4], [1, 2, 3, 4])), c.T(R.scalar(2), 'i32'), 0)), R.scalar(3), 'gather with a scalar index');
      c.exact(await c.run1(() => ops.where(c.T(R.scalar(1)), c.T(R.scalar(2)), c.T(R.scalar(3)))), R.scalar(2), 'select of scalars');
    });
  });

  c.test('size-1 dims', async (rng) => {
    const x = rng.arr([1, 1, 1]);
    c.close(await c.run1(() => ops.tanh(c.T(x))), R.unary('tanh', x), 'tanh of [1, 1, 1]');
    c.exact(await c.run1(() => ops.sum(c.T(x), [0, 2], true)), x, 'sum over size-1 axes');
    const a = rng.arr([1, 1]);
    const b = rng.arr([1, 1]);
    c.close(await c.run1(() => ops.matmul(c.T(a), c.T(b))), R.matmul(a, b), 'matmul [1, 1] x [1, 1]');
    const col = rng.arr([4, 1]);
    const [v, i] = await c.run(() => {
      const r = ops.topk(c.T(col), 1);
      return [r.values, r.indices];
    });
    c.exact(v!, col, 'topk of size-1 rows');
    c.exact(i!, R.build([4, 1], () => 0), 'topk of size-1 rows: indices');
    const y = rng.arr([3, 1, 2]);
    c.exact(await c.run1(() => ops.permute(c.T(y), [1, 2, 0])), R.permute(y, [1, 2, 0]), 'permute with a size-1 axis');
    c.exact(await c.run1(() => ops.concat([c.T(R.arr([1, 1], [1])), c.T(R.arr([1, 1], [2]))], 1)), R.arr([1, 2], [1, 2]), 'concat of [1, 1] pieces');
    c.close(await c.run1(() => ops.softmax(c.T(y))), R.softmax(y), 'softmax with a size-1 middle dim');
  });

  c.test('broadcasting of every kind', async (rng) => {
    const pairs: [number[], number[]][] = [
      [[], [2, 3]],
      [[1], [2, 3]],
      [[3], [2, 3]],
      [[2, 1], [2, 3]],
      [[2, 1], [1, 3]],
      [[2, 1, 3], [4, 1]],
      [[1, 3, 1], [2, 1, 4]],
      [[1, 1], [1, 1]],
      [[2, 3, 1, 5], [3, 4, 1]],
      [[0, 1], [1, 3]],
      [[5, 1, 1], [1]],
    ];
    for (const [sa, sb] of pairs) {
      const a = rng.arr(sa);
      const b = rng.arr(sb);
      for (const [x, y] of [[a, b], [b, a]] as const) {
        c.close(await c.run1(() => ops.sub(c.T(x), c.T(y))), R.binary('sub', x, y), `sub ${R.fmt(x.shape)} ${R.fmt(y.shape)}`);
        c.exact(await c.run1(() => ops.greater(c.T(x), c.T(y))), R.binary('gt', x, y), `gt ${R.fmt(x.shape)} ${R.fmt(y.shape)}`);
      }
      const ai = rng.ints(sa, -5, 5);
      const bi = rng.ints(sb, -5, 5);
      c.exact(await c.run1(() => ops.mul(c.T(ai, 'i32'), c.T(bi, 'i32'))), R.binary('mul', ai, bi), `i32 mul ${R.fmt(sa)} ${R.fmt(sb)}`);
    }
  });

  c.test('non-contiguous views', async (rng) => {
    // Results of permute/slice/transpose are fed into every op family; each must read them as
    // ordinary row-major tensors, and the source must be unchanged afterwards.
    const x = rng.arr([4, 3, 5], -2, 2);
    const xt = R.permute(x, [2, 0, 1]); // [5, 4, 3]
    const xs = R.slice(x, [1, 0, 1], [2, 3, 3]); // [2, 3, 3]
    const m = rng.arr([6, 4]);
    const mt = R.permute(m, [1, 0]); // [4, 6]
    const cases: [string, (v: Tensor, s: Tensor, mT: Tensor) => Tensor, R.Arr][] = [
      ['unary', (v) => ops.exp(v), R.unary('exp', xt)],
      ['binary', (v, s) => ops.mul(ops.slice(v, [0, 0, 0], [2, 3, 3]), s), R.binary('mul', R.slice(xt, [0, 0, 0], [2, 3, 3]), xs)],
      ['broadcast binary', (v) => ops.add(v, ops.slice(v, [0, 0, 0], [1, 4, 3])), R.binary('add', xt, R.slice(xt, [0, 0, 0], [1, 4, 3]))],
      ['select', (v) => ops.where(ops.greater(v, 0), v, ops.neg(v)), R.unary('abs', xt)],
      ['reduce sum', (v) => ops.sum(v, [0, 2], true), R.reduce('sum', xt, [0, 2])],
      ['reduce max', (_, s) => ops.max(s, 1, true), R.reduce('max', xs, [1])],
      ['matmul', (_, __, mT) => ops.matmul(mT, ops.transpose(mT)), R.matmul(mt, R.permute(mt, [1, 0]))],
      ['matmul of a slice', (_, s, mT) => ops.matmul(ops.reshape(s, [6, 3]), ops.slice(mT, [0, 0], [3, 2])), R.matmul(R.reshape(xs, [6, 3]), R.slice(mt, [0, 0], [3, 2]))],
      ['gather', (v) => ops.gather(v, c.T(R.arr([3], [2, 0, 2]), 'i32'), 1), R.gather(xt, R.arr([3], [2, 0, 2]), 1)],
      ['scatterAdd', (v) => ops.scatterAdd([5, 2, 3], c.T(R.arr([4], [1, 0, 1, 1]), 'i32'), v, 1), R.scatterAdd([5, 2, 3], R.arr([4], [1, 0, 1, 1]), xt, 1)],
      ['topk', (v) => ops.topk(v, 2).values, R.topk(xt, 2).values],
      ['concat', (v, s) => ops.concat([ops.slice(v, [0, 0, 0], [5, 2, 3]), ops.transpose(ops.slice(v, [0, 1, 0], [5, 3, 2]))], 1), R.concat([R.slice(xt, [0, 0, 0], [5, 2, 3]), R.permute(R.slice(xt, [0, 1, 0], [5, 3, 2]), [0, 2, 1])], 1)],
      ['permute of a permute', (v) => ops.permute(v, [2, 0, 1]), R.permute(xt, [2, 0, 1])],
      ['pad', (_, s) => ops.pad(s, [1, 0, 0], [0, 1, 1]), R.pad(xs, [1, 0, 0], [0, 1, 1])],
      ['expand', (_, s) => ops.broadcastTo(ops.slice(s, [0, 0, 0], [1, 3, 3]), [4, 3, 3]), R.expand(R.slice(xs, [0, 0, 0], [1, 3, 3]), [4, 3, 3])],
      ['cast', (v) => ops.cast(ops.mul(v, 10), 'i32'), R.castToInt(R.binary('mul', xt, R.scalar(10)))],
      ['softmax', (_, s) => ops.softmax(s), R.softmax(xs)],
      ['rmsNorm', (v) => ops.rmsNorm(v, c.T(R.arr([3], [1, 2, 0.5])), 1e-6), R.rmsNorm(xt, R.arr([3], [1, 2, 0.5]), 1e-6)],
    ];
    for (const [what, f, want] of cases) {
      const [y, src] = await c.run(() => {
        const t = c.T(x);
        const v = ops.permute(t, [2, 0, 1]);
        const s = ops.slice(t, [1, 0, 1], [2, 3, 3]);
        const mT = ops.transpose(c.T(m));
        return [f(v, s, mT), t];
      });
      c.close(y!, want, `${what} of a view`, c.tol.atol * 10, c.tol.rtol * 10);
      c.exact(src!, x, `${what}: the source is unchanged`);
    }
  });
}
