import { expect } from 'vitest';
import { ops } from '@karakoram/core';
import type { Ctx } from '../harness.js';
import * as R from '../ref.js';

export function nnSection(c: Ctx): void {
  c.test('softmax', async (rng) => {
    for (const x of [rng.arr([3, 7], -3, 3), rng.arr([2, 3, 5], -3, 3), R.arr([2, 3], [1000, 1001, 999, -1000, -1001, -999]), rng.arr([4, 1])]) {
      const y = await c.run1(() => ops.softmax(c.T(x)));
      c.close(y, R.softmax(x), `softmax ${R.fmt(x.shape)}`);
      const rows = R.reduce('sum', y, [y.shape.length - 1]);
      c.close(rows, R.build(rows.shape, () => 1), 'softmax rows sum to 1', 1e-6, 1e-6);
    }
    const wide = rng.arr([2, 300], -5, 5);
    c.close(await c.run1(() => ops.softmax(c.T(wide))), R.softmax(wide), 'softmax over 300');
  });

  c.test('logSoftmax', async (rng) => {
    for (const x of [rng.arr([3, 7], -3, 3), rng.arr([2, 3, 5], -3, 3), R.arr([2, 3], [1000, 1001, 999, -1000, -1001, -999])]) {
      const y = await c.run1(() => ops.logSoftmax(c.T(x)));
      c.close(y, R.logSoftmax(x), `logSoftmax ${R.fmt(x.shape)}`, c.tol.atol * 10);
    }
  });

  c.test('logSumExp', async (rng) => {
    const x = rng.arr([2, 3, 4], -3, 3);
    for (const axis of [0, 1, 2, -1]) {
      for (const keep of [false, true]) {
        const ax = axis < 0 ? axis + 3 : axis;
        const y = await c.run1(() => ops.logSumExp(c.T(x), axis, keep));
        c.close(y, R.logSumExp(x, ax, keep), `logSumExp axis ${axis} keepDims ${keep}`);
      }
    }
    const big = R.arr([2, 2], [1000, 1000, -1000, -1001]);
    const y = await c.run1(() => ops.logSumExp(c.T(big)));
    c.close(y, R.logSumExp(big, 1, false), 'logSumExp of large values does not overflow');
  });

  c.test('rmsNorm', async (rng) => {
    for (const [shape, eps] of [[[3, 8], 1e-6], [[2, 2, 4], 1e-5], [[1, 16], 0.1]] as const) {
      const x = rng.arr(shape, -2, 2);
      const w = rng.arr([shape[shape.length - 1]!], 0.5, 1.5);
      const y = await c.run1(() => ops.rmsNorm(c.T(x), c.T(w), eps));
      c.close(y, R.rmsNorm(x, w, eps), `rmsNorm ${R.fmt(shape)} eps ${eps}`, c.tol.atol * 10, c.tol.rtol * 10);
    }
  });

  c.test('crossEntropy', async (rng) => {
    const logits = rng.arr([2, 3, 5], -3, 3);
    const targets = rng.ints([2, 3], 0, 5);
    const y = await c.run1(() => ops.crossEntropy(c.T(logits), c.T(targets, 'i32')));
    c.close(y, R.crossEntropy(logits, targets), 'crossEntropy without mask');
    const mask = R.arr([2, 3], [1, 0, 1, 1, 0, 0]);
    const ym = await c.run1(() => ops.crossEntropy(c.T(logits), c.T(targets, 'i32'), c.T(mask)));
    c.close(ym, R.crossEntropy(logits, targets, mask), 'crossEntropy with mask');
    expect(Math.abs(ym.data[0]! - y.data[0]!), 'the mask changes the loss').toBeGreaterThan(1e-4);
    const none = R.build([2, 3], () => 0);
    const y0 = await c.run1(() => ops.crossEntropy(c.T(logits), c.T(targets, 'i32'), c.T(none)));
    c.exact(y0, R.scalar(0), 'crossEntropy with an all-zero mask is 0');
  });

  // ops.attention: forward and per-row max against the float64 reference, on shapes that cross
  // the fused kernels' cases: causal with S = T and S > T (a cached prefix), an additive mask
  // broadcast over heads or batch, scale != 1, D != Dv, and size-1 batch/heads/queries.
  c.test('attention', async (rng) => {
    const cases: { B: number; H: number; T: number; S: number; D: number; Dv: number; scale: number; causal: boolean; mask?: [number, number] }[] = [
      { B: 2, H: 3, T: 5, S: 5, D: 4, Dv: 3, scale: 0.5, causal: true },
      { B: 1, H: 2, T: 3, S: 7, D: 6, Dv: 6, scale: 1, causal: true },
      { B: 2, H: 2, T: 4, S: 6, D: 3, Dv: 5, scale: 0.7, causal: false, mask: [2, 1] },
      { B: 2, H: 3, T: 4, S: 4, D: 2, Dv: 2, scale: 1.3, causal: true, mask: [1, 3] },
      { B: 1, H: 1, T: 1, S: 1, D: 3, Dv: 2, scale: 1, causal: false },
    ];
    for (const k of cases) {
      const q = rng.arr([k.B, k.H, k.T, k.D], -2, 2);
      const kk = rng.arr([k.B, k.H, k.S, k.D], -2, 2);
      const v = rng.arr([k.B, k.H, k.S, k.Dv], -2, 2);
      // Masks hide some keys with -1e9 (never a whole row: at least key 0 stays visible).
      const mask = k.mask ? R.build([k.mask[0], k.mask[1], k.T, k.S], ([, , , j]) => (j! > 0 && rng.next() < 0.3 ? -1e9 : rng.next() - 0.5)) : undefined;
      const want = R.attention(q, kk, v, k.scale, k.causal, mask);
      const [out, rowMax] = await c.run(() => {
        const r = ops.attention(c.T(q), c.T(kk), c.T(v), { scale: k.scale, causal: k.causal, mask: mask ? c.T(mask) : undefined });
        return [r.out, r.rowMax];
      });
      const what = `attention B${k.B} H${k.H} T${k.T} S${k.S} D${k.D} Dv${k.Dv}${k.causal ? ' causal' : ''}${k.mask ? ` mask [${k.mask}]` : ''}`;
      c.close(out!, want.out, `${what}: out`, c.tol.atol * 10, c.tol.rtol * 10);
      c.close(rowMax!, want.rowMax, `${what}: rowMax`, c.tol.atol * 10, c.tol.rtol * 10);
    }
  });
}
