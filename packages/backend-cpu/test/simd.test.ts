// The WebAssembly SIMD elementwise kernels (src/wasm/elementwise.ts) on sizes that take them:
// bit-identical arithmetic to the JS kernels, log-softmax and its gradient against float64.
import { describe, expect, it } from 'vitest';
import type { Backend, TensorRef } from '@karakoram/core';
import { CpuBackend, createCpuBackend } from '../src/index.js';
import { randomF32 } from '@karakoram/backend-conformance';

const ref = (be: Backend, v: Float32Array, shape: number[]): TensorRef => ({ storage: be.upload(v, 'f32'), shape, dtype: 'f32' });

describe('cpu SIMD elementwise', () => {
  it('add, sub, mul and div give the JS kernels\' bits: same shape, scalar right, scalar left, odd lengths', async () => {
    const simd = await createCpuBackend();
    const js = new CpuBackend();
    const shape = [3, 2731]; // 8193 elements: two chunks and a tail of one
    const a = randomF32(8193, 1, -2, 2), b = randomF32(8193, 2, 0.5, 3), s = randomF32(1, 3, -2, 2);
    for (const op of ['add', 'sub', 'mul', 'div'] as const) {
      for (const [x, xs, y, ys] of [[a, shape, b, shape], [a, shape, s, []], [s, [], a, shape]] as const) {
        const run = (be: Backend): Float32Array => be.readSync!({ storage: be.binary(op, ref(be, x, [...xs]), ref(be, y, [...ys]), shape), shape, dtype: 'f32' }) as Float32Array;
        const got = run(simd), want = run(js);
        let diff = 0;
        for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) diff++;
        expect(diff, `${op} ${xs.length ? 'vector' : 'scalar'} ${op} ${ys.length ? 'vector' : 'scalar'}`).toBe(0);
      }
    }
  });

  it('sigmoid matches float64 over [-100, 100] (and keeps NaN, ±Infinity right)', async () => {
    const be = await createCpuBackend();
    const x = randomF32(10001, 9, -100, 100);
    x[0] = Infinity; x[1] = -Infinity; x[2] = NaN; x[3] = 0; x[4] = -0.5; x[5] = 30;
    const y = be.readSync!({ storage: be.unary('sigmoid', ref(be, x, [10001])), shape: [10001], dtype: 'f32' }) as Float32Array;
    expect([y[0], y[1], y[3]]).toEqual([1, 0, 0.5]);
    expect(y[2]).toBeNaN();
    let worst = 0;
    for (let i = 3; i < x.length; i++) worst = Math.max(worst, Math.abs(y[i]! - 1 / (1 + Math.exp(-x[i]!))));
    expect(worst).toBeLessThan(2e-7);
  });

  it('log-softmax and its gradient match float64 on 4096-wide rows (a -Infinity entry, a huge one)', async () => {
    const be = await createCpuBackend();
    const V = 4096, R = 9;
    const x = randomF32(V * R, 5, -20, 20);
    x[3] = -Infinity;
    x[V + 7] = 1e30;
    const dy = randomF32(V * R, 6, -1, 1);
    const xr = ref(be, x, [R, V]);
    const y = be.readSync!({ storage: be.fused!.logSoftmax!(xr), shape: [R, V], dtype: 'f32' }) as Float32Array;
    const yr = ref(be, y, [R, V]);
    const dx = be.readSync!({ storage: be.fused!.logSoftmaxBackward!(yr, ref(be, dy, [R, V])), shape: [R, V], dtype: 'f32' }) as Float32Array;
    let worstY = 0, worstDx = 0;
    for (let r = 0; r < R; r++) {
      let m = -Infinity, s = 0, sdy = 0;
      for (let j = 0; j < V; j++) m = Math.max(m, x[r * V + j]!);
      for (let j = 0; j < V; j++) s += Math.exp(x[r * V + j]! - m);
      for (let j = 0; j < V; j++) sdy += dy[r * V + j]!;
      for (let j = 0; j < V; j++) {
        const i = r * V + j;
        const want = x[i]! - m - Math.log(s);
        if (want === -Infinity) expect(y[i]).toBe(-Infinity);
        else worstY = Math.max(worstY, Math.abs(y[i]! - want) / Math.max(1, Math.abs(want)));
        const p = Math.exp(want);
        worstDx = Math.max(worstDx, Math.abs(dx[i]! - (dy[i]! - p * sdy)));
      }
    }
    expect(worstY).toBeLessThan(1e-6);
    expect(worstDx).toBeLessThan(2e-5);
  });
});
