/**
 * GPU memory holds steady over a long training loop: 1000 steps of forward, backward and update
 * of a small MLP. After a warm-up the live buffers, their bytes and everything the pool ever
 * created stay the same: freed buffers are reused by size class, nothing leaks.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ops, setBackend, tidy, valueAndGrads, type Tensor } from '@karakoram/core';
import { createWebGpuBackend, type WebGpuBackend } from '../src/index.js';
import { withAdapter } from './adapter.js';

withAdapter('webgpu memory', () => {
  let gpu: WebGpuBackend;
  beforeAll(async () => {
    gpu = await createWebGpuBackend({ autotune: false }); // the rule of thumb: the tuned choice is timed in kernels.test.ts
    setBackend(gpu);
  });
  afterAll(async () => {
    await gpu?.destroy();
  });

  it('1000 steps of forward/backward/update of a small MLP hold steady GPU memory', async () => {
    const x = ops.randomNormal([16, 12], 1);
    const targets = ops.tensor(Int32Array.from({ length: 16 }, (_, i) => i % 5), [16], 'i32');
    const [w1, g1, w2] = tidy(() => [ops.mul(ops.randomNormal([24, 12], 2), 0.3), ops.ones([24]), ops.mul(ops.randomNormal([5, 24], 3), 0.3)]);
    const params: Tensor[] = [w1!, g1!, w2!];
    const step = (): Tensor =>
      tidy(() => {
        const { value, grads } = valueAndGrads(() => {
          const h = ops.silu(ops.rmsNorm(ops.linear(x, w1), g1, 1e-6));
          return ops.crossEntropy(ops.linear(h, w2), targets);
        }, params);
        params.forEach((p, i) => p.assign(ops.sub(p, ops.mul(grads[i]!, 0.1))));
        return value;
      });

    const losses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const loss = step();
      if (i % 10 === 0) await loss.data();
      loss.dispose();
    }
    await gpu.sync();
    const before = gpu.memory();
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      const loss = step();
      if (i % 100 === 0 || i === 999) losses.push((await loss.data())[0]!);
      loss.dispose();
    }
    await gpu.sync();
    const after = gpu.memory();
    const ms = performance.now() - t0;
    console.log(
      `1000 MLP steps in ${(ms / 1000).toFixed(1)} s; loss ${losses[0]!.toFixed(4)} -> ${losses[losses.length - 1]!.toFixed(4)}\n` +
      `  before: ${before.buffers} live buffers, ${before.bytes} bytes; pool ${before.pool.allocated} buffers / ${before.pool.allocatedBytes} bytes created, ${before.pool.free} free; ${before.pipelines} pipelines\n` +
      `  after:  ${after.buffers} live buffers, ${after.bytes} bytes; pool ${after.pool.allocated} buffers / ${after.pool.allocatedBytes} bytes created, ${after.pool.free} free; ${after.pipelines} pipelines`,
    );
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    expect(after.buffers).toBe(before.buffers);
    expect(after.bytes).toBe(before.bytes);
    expect(after.pool.allocated, 'no GPUBuffer created after the warm-up').toBe(before.pool.allocated);
    expect(after.pool.allocatedBytes).toBe(before.pool.allocatedBytes);
    expect(after.pipelines, 'no pipeline compiled after the warm-up').toBe(before.pipelines);
    for (const t of [x, targets, ...params]) t.dispose();
  });
});
