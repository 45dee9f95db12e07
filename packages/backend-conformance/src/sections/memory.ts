import { expect } from 'vitest';
import { ops, tidy, valueAndGrads, type Tensor } from '@karakoram/core';
import type { Ctx } from '../harness.js';
import * as R from '../ref.js';

export function memorySection(c: Ctx): void {
  const buffers = (): number => c.backend.memory().buffers;

  c.test('upload and dispose', async () => {
    const before = c.backend.memory();
    const t = c.T(R.arr([4, 4], new Array(16).fill(1)));
    expect(buffers()).toBe(before.buffers + 1);
    expect(c.backend.memory().bytes).toBeGreaterThanOrEqual(before.bytes + 64);
    t.dispose();
    t.dispose();
    expect(buffers()).toBe(before.buffers);
    expect(c.backend.memory().bytes).toBe(before.bytes);
  });

  c.test('reshape views share storage, freed by the last holder', async () => {
    const before = buffers();
    const t = c.T(R.arr([2, 3], [1, 2, 3, 4, 5, 6]));
    const v = ops.reshape(t, [3, 2]);
    const w = ops.reshape(v, [6]);
    expect(buffers(), 'a reshape allocates nothing').toBe(before + 1);
    t.dispose();
    v.dispose();
    expect(buffers(), 'one view still holds the storage').toBe(before + 1);
    c.exact(await c.read(w), R.arr([6], [1, 2, 3, 4, 5, 6]), 'the surviving view');
    w.dispose();
    expect(buffers()).toBe(before);
  });

  c.test('tidy after forward and backward', async (rng) => {
    const x = c.T(rng.arr([4, 6]));
    const w1 = c.T(rng.arr([8, 6]));
    const w2 = c.T(rng.arr([5, 8]));
    const g = c.T(rng.arr([8], 0.5, 1.5));
    const targets = c.T(R.arr([4], [0, 4, 2, 1]), 'i32');
    const before = buffers();
    const loss = tidy(() => {
      const { value, grads } = valueAndGrads(() => {
        const h = ops.silu(ops.rmsNorm(ops.linear(x, w1), g, 1e-6));
        const top = ops.topk(h, 3).values;
        const logits = ops.add(ops.linear(h, w2), ops.sum(top, -1, true));
        const picked = ops.gather(ops.transpose(logits), c.T(R.arr([2], [1, 3]), 'i32'), 0);
        return ops.add(ops.crossEntropy(logits, targets), ops.mean(ops.softmax(picked)));
      }, [x, w1, w2, g]);
      expect(grads.map((t: Tensor) => [...t.shape])).toEqual([[4, 6], [8, 6], [5, 8], [8]]);
      return value;
    });
    expect(buffers(), 'tidy frees every intermediate and gradient; the loss survives').toBe(before + 1);
    expect(Number.isFinite((await c.read(loss)).data[0])).toBe(true);
    loss.dispose();
    expect(buffers()).toBe(before);
    for (const t of [x, w1, w2, g, targets]) t.dispose();
  });

  c.test('failed ops leak nothing', async () => {
    const x = c.T(R.arr([3, 4], new Array(12).fill(1)));
    const before = buffers();
    const fails: (() => unknown)[] = [
      () => ops.add(ops.exp(x), ops.ones([5])),
      () => ops.matmul(ops.neg(x), x),
      () => ops.gather(x, c.T(R.arr([2], [0, 7]), 'i32'), 0),
      () => ops.scatterAdd([3, 4], c.T(R.arr([1], [9]), 'i32'), ops.ones([1, 4]), 0),
    ];
    for (const f of fails) {
      expect(() => tidy(f)).toThrow();
      expect(buffers(), `after ${f.toString()}`).toBe(before);
    }
    x.dispose();
  });
}
