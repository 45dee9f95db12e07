/** The float64 reference checked against values worked out by hand, so the suite's oracle is itself tested. */
import { describe, expect, it } from 'vitest';
import { Rng, reference as R } from '../src/index.js';

const A = R.arr([2, 3], [1, 2, 3, 4, 5, 6]);
const data = (a: R.Arr): number[] => Array.from(a.data);

describe('float64 reference', () => {
  it('index math', () => {
    expect(R.unravel(7, [2, 3, 4])).toEqual([0, 1, 3]);
    expect(R.ravel([1, 2, 3], [2, 3, 4])).toBe(23);
    expect(R.unravel(0, [])).toEqual([]);
    expect(R.broadcastShape([2, 1, 4], [3, 1])).toEqual([2, 3, 4]);
    expect(() => R.broadcastShape([2, 3], [4])).toThrow();
  });

  it('elementwise and broadcasting', () => {
    expect(data(R.binary('sub', A, R.arr([3], [1, 1, 2])))).toEqual([0, 1, 1, 3, 4, 4]);
    expect(data(R.binary('add', R.arr([2, 1], [10, 20]), R.arr([1, 3], [1, 2, 3])))).toEqual([11, 12, 13, 21, 22, 23]);
    expect(data(R.binary('le', A, R.scalar(3)))).toEqual([1, 1, 1, 0, 0, 0]);
    expect(data(R.unary('sign', R.arr([3], [-2, 0, 5])))).toEqual([-1, 0, 1]);
    expect(data(R.select(R.arr([2, 1], [0, 3]), A, R.scalar(-1)))).toEqual([-1, -1, -1, 4, 5, 6]);
    expect(data(R.castToInt(R.arr([4], [-1.5, 1.5, -0.2, 2.9])))).toEqual([-1, 1, -0, 2]);
  });

  it('reductions and top-k', () => {
    expect(data(R.reduce('sum', A, [0]))).toEqual([5, 7, 9]);
    expect(data(R.reduce('max', A, [1]))).toEqual([3, 6]);
    expect(R.reduce('min', A, [0, 1]).shape).toEqual([1, 1]);
    expect(data(R.reduce('min', A, [0, 1]))).toEqual([1]);
    const t = R.topk(R.arr([2, 4], [1, 3, 3, 0, 5, 5, 5, 5]), 3);
    expect(data(t.values)).toEqual([3, 3, 1, 5, 5, 5]);
    expect(data(t.indices)).toEqual([1, 2, 0, 0, 1, 2]);
  });

  it('matmul with transposes and batch broadcast', () => {
    const a = R.arr([1, 2, 2], [1, 2, 3, 4]);
    const b = R.arr([2, 2, 2], [1, 0, 0, 1, 0, 1, 1, 0]);
    expect(data(R.matmul3(a, b, false, false))).toEqual([1, 2, 3, 4, 2, 1, 4, 3]);
    expect(data(R.matmul3(a, a, true, false))).toEqual([10, 14, 14, 20]);
    expect(data(R.matmul3(a, a, false, true))).toEqual([5, 11, 11, 25]);
    expect(data(R.matmul3(a, a, true, true))).toEqual([7, 15, 10, 22]);
    expect(R.matmul(R.arr([2, 1, 1, 2], [1, 2, 3, 4]), R.arr([3, 2, 1], [1, 1, 1, 0, 0, 1])).shape).toEqual([2, 3, 1, 1]);
    expect(data(R.matmul(R.arr([2, 1, 1, 2], [1, 2, 3, 4]), R.arr([3, 2, 1], [1, 1, 1, 0, 0, 1])))).toEqual([3, 1, 2, 7, 3, 4]);
  });

  it('indexing and movement', () => {
    expect(data(R.gather(A, R.arr([3], [2, 0, 2]), 1))).toEqual([3, 1, 3, 6, 4, 6]);
    expect(data(R.gather(A, R.arr([], [1]), 0))).toEqual([4, 5, 6]);
    expect(data(R.scatterAdd([2, 2], R.arr([3], [1, 1, 0]), R.arr([3, 2], [1, 2, 3, 4, 5, 6]), 0))).toEqual([5, 6, 4, 6]);
    expect(data(R.permute(A, [1, 0]))).toEqual([1, 4, 2, 5, 3, 6]);
    expect(data(R.slice(A, [1, 1], [1, 2]))).toEqual([5, 6]);
    expect(data(R.pad(R.arr([1, 2], [1, 2]), [1, 0], [0, 1]))).toEqual([0, 0, 0, 1, 2, 0]);
    expect(data(R.concat([R.arr([2, 1], [7, 8]), A], 1))).toEqual([7, 1, 2, 3, 8, 4, 5, 6]);
    expect(data(R.expand(R.arr([2, 1], [1, 2]), [2, 2, 2]))).toEqual([1, 1, 2, 2, 1, 1, 2, 2]);
  });

  it('nn ops', () => {
    const x = R.arr([1, 3], [0, Math.log(2), Math.log(5)]);
    expect(data(R.softmax(x)).map((v) => +v.toFixed(12))).toEqual([0.125, 0.25, 0.625]);
    expect(R.logSumExp(x, 1, false).data[0]).toBeCloseTo(Math.log(8), 12);
    expect(data(R.rmsNorm(R.arr([1, 2], [3, 4]), R.arr([2], [1, 2]), 0))).toEqual([3 / Math.sqrt(12.5), 8 / Math.sqrt(12.5)]);
    const logits = R.arr([2, 2], [0, 0, 0, Math.log(3)]);
    expect(R.crossEntropy(logits, R.arr([2], [0, 1])).data[0]).toBeCloseTo((Math.log(2) + Math.log(4 / 3)) / 2, 12);
    expect(R.crossEntropy(logits, R.arr([2], [0, 1]), R.arr([2], [0, 1])).data[0]).toBeCloseTo(Math.log(4 / 3), 12);
  });

  it('test data generators', () => {
    const r = new Rng(5);
    const d = r.distinct([4, 5]);
    expect(new Set(d.data).size).toBe(20);
    const e = r.distinct([3], 0.1, 0.0625);
    for (const a of d.data) for (const b of e.data) expect(Math.abs(a - b)).toBeGreaterThan(0.04);
    const s = r.signed([50], 0.25, 2);
    expect(s.data.every((v) => Math.abs(v) >= 0.25 && Math.abs(v) < 2)).toBe(true);
    expect(Array.from(new Rng(9).arr([4]).data)).toEqual(Array.from(new Rng(9).arr([4]).data));
  });
});
