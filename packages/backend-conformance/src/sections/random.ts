import { expect } from 'vitest';
import { normalAt, ops, uniformAt } from '@karakoram/core';
import type { Ctx } from '../harness.js';
import * as R from '../ref.js';

const SEEDS = [0, 1, 42, 0x9e3779b9, 0xffffffff];

export function randomSection(c: Ctx): void {
  c.test('uniform is bit-identical to uniformAt', async () => {
    for (const seed of SEEDS) {
      for (const shape of [[7, 9], [1031], [2, 3, 4]]) {
        const y = await c.run1(() => ops.randomUniform(shape, seed));
        const want = R.build(shape, (idx) => uniformAt(seed, R.ravel(idx, shape)));
        c.exact(y, want, `uniform seed ${seed} ${R.fmt(shape)}`);
      }
    }
    const again = await c.run1(() => ops.randomUniform([100], 7));
    expect(again.data.every((v) => v >= 0 && v < 1), 'uniform in [0, 1)').toBe(true);
    const other = await c.run1(() => ops.randomUniform([100], 8));
    expect(Array.from(other.data)).not.toEqual(Array.from(again.data));
  });

  c.test('scaled uniform', async () => {
    const y = await c.run1(() => ops.randomUniform([5, 5], 3, -2, 4));
    c.close(y, R.build([5, 5], (idx) => -2 + 6 * uniformAt(3, R.ravel(idx, [5, 5]))), 'uniform in [-2, 4)');
  });

  c.test('normal matches normalAt', async () => {
    for (const seed of SEEDS) {
      for (const shape of [[7, 9], [513]]) {
        const y = await c.run1(() => ops.randomNormal(shape, seed));
        const want = R.build(shape, (idx) => normalAt(seed, R.ravel(idx, shape)));
        c.close(y, want, `normal seed ${seed} ${R.fmt(shape)}`, c.tol.normal, 0);
      }
    }
    const big = await c.run1(() => ops.randomNormal([4096], 11));
    const mean = big.data.reduce((a, b) => a + b, 0) / big.data.length;
    const variance = big.data.reduce((a, b) => a + (b - mean) ** 2, 0) / big.data.length;
    expect(Math.abs(mean)).toBeLessThan(0.06);
    expect(Math.abs(variance - 1)).toBeLessThan(0.08);
  });
}
