import { expect } from 'vitest';
import { KarakoramError, ShapeError, ops, tidy } from '@karakoram/core';
import type { Ctx } from '../harness.js';
import * as R from '../ref.js';

/** Runs fn in tidy and returns what it threw (failing the test when it throws nothing). */
function thrown(_c: Ctx, fn: () => unknown): Error {
  try {
    tidy(() => {
      fn();
    });
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, none was thrown');
}

function expectMessage(e: Error, parts: readonly string[]): void {
  for (const p of parts) expect(e.message, `error message "${e.message}" should mention ${p}`).toContain(p);
}

export function errorsSection(c: Ctx): void {
  const z = (shape: number[]) => c.T(R.build(shape, () => 0));
  const zi = (shape: number[]) => c.T(R.build(shape, () => 0), 'i32');

  c.test('broadcast mismatch names the op and both shapes', () => {
    for (const [op, f] of [['add', ops.add], ['mul', ops.mul], ['lt', ops.less], ['max', ops.maximum]] as const) {
      const e = thrown(c, () => f(z([2, 3]), z([4])));
      expect(e).toBeInstanceOf(ShapeError);
      expectMessage(e, [op, '[2, 3]', '[4]']);
    }
    const w = thrown(c, () => ops.where(z([2, 3]), z([3]), z([2])));
    expect(w).toBeInstanceOf(ShapeError);
    expectMessage(w, ['where', '[2]']);
  });

  c.test('matmul mismatch', () => {
    const e = thrown(c, () => ops.matmul(z([2, 3]), z([4, 5])));
    expect(e).toBeInstanceOf(ShapeError);
    expectMessage(e, ['matmul', '[2, 3]', '[4, 5]', '3', '4']);
    const t = thrown(c, () => ops.matmul(z([2, 3]), z([2, 5]), false, true));
    expectMessage(t, ['matmul', '[2, 3]', '[2, 5]']);
    const b = thrown(c, () => ops.matmul(z([2, 3, 4]), z([3, 4, 5])));
    expect(b).toBeInstanceOf(ShapeError);
    expectMessage(b, ['matmul', '[2, 3, 4]', '[3, 4, 5]']);
    const b3 = thrown(c, () => ops.matmul3(z([2, 3, 4]), z([3, 4, 5]), false, false));
    expectMessage(b3, ['matmul', '[2, 3, 4]', '[3, 4, 5]']);
    expectMessage(thrown(c, () => ops.matmul(z([3]), z([3, 2]))), ['matmul', '[3]']);
  });

  c.test('concat mismatch', () => {
    const e = thrown(c, () => ops.concat([z([2, 3]), z([3, 4])], 0));
    expect(e).toBeInstanceOf(ShapeError);
    expectMessage(e, ['concat', '[2, 3]', '[3, 4]']);
    expectMessage(thrown(c, () => ops.concat([z([2, 3]), z([2, 3, 1])], 0)), ['concat', '[2, 3, 1]']);
    expectMessage(thrown(c, () => ops.concat([], 0)), ['concat']);
  });

  c.test('gather index out of range', () => {
    for (const [idx, axis] of [[[0, 3], 0], [[4], 1], [[-1], 0]] as const) {
      const e = thrown(c, () => ops.gather(z([3, 4]), c.T(R.arr([idx.length], idx), 'i32'), axis));
      expect(e).toBeInstanceOf(KarakoramError);
      expectMessage(e, ['gather', String(idx[idx.length - 1])]);
    }
    const s = thrown(c, () => ops.scatterAdd([3, 2], c.T(R.arr([2], [0, 3]), 'i32'), z([2, 2]), 0));
    expect(s).toBeInstanceOf(KarakoramError);
    expectMessage(s, ['scatterAdd', '3']);
  });

  c.test('dtype mismatch', () => {
    const e = thrown(c, () => ops.add(z([2]), zi([2])));
    expect(e).toBeInstanceOf(KarakoramError);
    expect((e as KarakoramError).code).toBe('dtype');
    expectMessage(e, ['add', 'f32', 'i32']);
    expectMessage(thrown(c, () => ops.concat([z([2]), zi([2])], 0)), ['concat', 'f32', 'i32']);
    expectMessage(thrown(c, () => ops.where(z([2]), z([2]), zi([2]))), ['where', 'f32', 'i32']);
    expectMessage(thrown(c, () => ops.gather(z([3]), z([1]), 0)), ['gather', 'i32', 'f32']);
    expectMessage(thrown(c, () => ops.matmul(zi([2, 2]), zi([2, 2]))), ['matmul', 'i32']);
    expectMessage(thrown(c, () => ops.crossEntropy(z([2, 3]), z([2]))), ['crossEntropy', 'i32']);
  });

  c.test('bad arguments', () => {
    expectMessage(thrown(c, () => ops.sum(z([2, 3]), 2)), ['sum', 'axis 2', 'rank 2']);
    expectMessage(thrown(c, () => ops.max(z([2, 0]), 1)), ['max', 'empty', '[2, 0]']);
    expectMessage(thrown(c, () => ops.reshape(z([2, 3]), [4, 2])), ['reshape', '[2, 3]', '[4, 2]']);
    expectMessage(thrown(c, () => ops.slice(z([2, 3]), [1, 2], [1, 2])), ['slice', 'axis 1', '[2, 3]']);
    expectMessage(thrown(c, () => ops.pad(z([2, 3]), [1, -1], [0, 0])), ['pad']);
    expectMessage(thrown(c, () => ops.permute(z([2, 3]), [0, 0])), ['permute', '[0, 0]', '[2, 3]']);
    expectMessage(thrown(c, () => ops.topk(z([2, 3]), 4)), ['topk', 'k = 4', '[2, 3]']);
    expectMessage(thrown(c, () => ops.broadcastTo(z([2, 3]), [3, 3])), ['broadcastTo', '[2, 3]', '[3, 3]']);
    expectMessage(thrown(c, () => ops.scatterAdd([3, 2], zi([2]), z([3, 2]), 0)), ['scatterAdd', '[3, 2]', '[2, 2]']);
    expectMessage(thrown(c, () => ops.rmsNorm(z([2, 3]), z([4]), 1e-6)), ['rmsNorm', '[4]', '[2, 3]']);
    expectMessage(thrown(c, () => ops.full([2, -1], 0)), ['fill', '[2, -1]']);
  });
}
