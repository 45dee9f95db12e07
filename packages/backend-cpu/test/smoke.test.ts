import { beforeAll, describe, expect, it } from 'vitest';
import { ops, setBackend, tidy, valueAndGrads } from '@karakoram/core';
import { createCpuBackend } from '../src/index.js';

beforeAll(async () => {
  setBackend(await createCpuBackend());
});

describe('cpu smoke', () => {
  it('describes its kernel', async () => {
    expect((await createCpuBackend()).describe()).toMatch(/^cpu \(wasm simd/);
    expect((await createCpuBackend({ wasm: false })).describe()).toBe('cpu (JavaScript kernels)');
  });
  it('matmul and grads', () => {
    const w = ops.tensor([[1, 2], [3, 4]]);
    const { value, grads } = valueAndGrads(() => ops.sum(ops.square(ops.matmul(w, w))), [w]);
    // w@w = [[7,10],[15,22]]; sum sq = 49+100+225+484 = 858
    expect(value.dataSync()[0]).toBeCloseTo(858);
    // d/dw sum((ww)^2) = 2(ww) w^T + w^T 2(ww)
    const c = [[7, 10], [15, 22]];
    const wt = [[1, 3], [2, 4]];
    const exp = [[0, 0], [0, 0]].map((r, i) => r.map((_, j) => {
      let s = 0;
      for (let k = 0; k < 2; k++) s += 2 * c[i]![k]! * wt[k]![j]! + wt[i]![k]! * 2 * c[k]![j]!;
      return s;
    }));
    expect(grads[0]!.arraySync()).toEqual(exp);
  });
  it('tidy frees', async () => {
    const b = await createCpuBackend();
    setBackend(b);
    const before = b.memory().buffers;
    const kept = tidy(() => {
      const a = ops.ones([3, 3]);
      const c = ops.add(a, a);
      return ops.mul(c, 2);
    });
    expect(b.memory().buffers).toBe(before + 1);
    expect(kept.dataSync()[0]).toBe(4);
    kept.dispose();
    expect(b.memory().buffers).toBe(before);
  });
});
