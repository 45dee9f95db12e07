/**
 * The kernel variants the conformance suite cannot pick on its own: every matmul variant on
 * every transpose, aligned and not, with batch broadcast; scatterAdd bit-exact with the cpu
 * backend; the autotuner's cache; no adapter -> a clear error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops, type Tensor } from '@karakoram/core';
import { CpuBackend } from '@karakoram/backend-cpu';
import { WebGpuBackend, WebGpuStorage, createWebGpuBackend, type MatmulVariant } from '../src/index.js';
import { withAdapter } from './adapter.js';

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

withAdapter('webgpu kernels', () => {
  let gpu: WebGpuBackend;
  const cpu = new CpuBackend();
  beforeAll(async () => {
    gpu = await createWebGpuBackend();
  });
  afterAll(async () => {
    await gpu?.destroy();
  });

  const cases: [number, number, number, number, number][] = [
    // [Ba, Bb, M, K, N]
    [1, 1, 8, 12, 16],
    [2, 2, 36, 20, 44],
    [3, 1, 16, 8, 4],
    [1, 2, 5, 7, 9],
    [2, 2, 33, 17, 35],
    [1, 1, 1, 3, 1],
  ];
  for (const variant of ['rb4', 'rb', 'tiled'] as MatmulVariant[]) {
    it(`matmul variant ${variant}: every transpose, batch broadcast, aligned and not`, async () => {
      for (const [Ba, Bb, M, K, N] of cases) {
        const aligned = M % 4 === 0 && N % 4 === 0 && K % 4 === 0;
        if (variant === 'rb4' && !aligned) continue;
        for (const tA of [false, true]) {
          for (const tB of [false, true]) {
            const A = rand(Ba * M * K, M * 7 + K);
            const B = rand(Bb * K * N, N * 11 + K);
            const aShape = tA ? [Ba, K, M] : [Ba, M, K];
            const bShape = tB ? [Bb, N, K] : [Bb, K, N];
            const want = cpu.readSync({ storage: cpu.matmul({ storage: cpu.upload(A, 'f32'), shape: aShape, dtype: 'f32' }, { storage: cpu.upload(B, 'f32'), shape: bShape, dtype: 'f32' }, tA, tB), shape: [Math.max(Ba, Bb), M, N], dtype: 'f32' });
            const a = gpu.upload(A, 'f32') as WebGpuStorage;
            const b = gpu.upload(B, 'f32') as WebGpuStorage;
            const c = gpu.upload(new Float32Array(want.length), 'f32') as WebGpuStorage;
            gpu.matmulInto(variant, { batch: Math.max(Ba, Bb), m: M, n: N, k: K, transA: tA, transB: tB, aBatch: Ba === 1 ? 0 : M * K, bBatch: Bb === 1 ? 0 : K * N }, a.buffer, b.buffer, c.buffer);
            const got = await gpu.read({ storage: c, shape: [Math.max(Ba, Bb), M, N], dtype: 'f32' });
            let worst = 0;
            for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
            expect(worst, `${variant} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} [${Ba},${Bb}] ${M}x${K}x${N}`).toBeLessThan(1e-5);
            for (const s of [a, b, c]) gpu.dispose(s);
          }
        }
      }
    });
  }

  it('scatterAdd is bit-identical to the cpu backend (same summation order)', async () => {
    const idx = Int32Array.from({ length: 300 }, (_, i) => (i * 7919) % 13);
    const upd = rand(300 * 5, 3);
    const run = async (be: WebGpuBackend | CpuBackend): Promise<Float32Array> => {
      const s = be.scatterAdd([13, 5], { storage: be.upload(idx, 'i32'), shape: [300], dtype: 'i32' }, { storage: be.upload(upd, 'f32'), shape: [300, 5], dtype: 'f32' }, 0);
      return (await be.read({ storage: s, shape: [13, 5], dtype: 'f32' })) as Float32Array;
    };
    expect(Array.from(await run(gpu))).toEqual(Array.from(await run(cpu)));
  });

  it('GPU-computed indices (no host copy) gather correctly', async () => {
    const x = ops.tensor(rand(20, 9), [10, 2], 'f32', gpu);
    const scores = ops.tensor(Float32Array.from([0.1, 0.9, 0.5, 0.7]), [4], 'f32', gpu);
    const top: Tensor = ops.topk(scores, 3).indices; // [1, 3, 2], computed on the GPU
    expect((top.ref.storage as WebGpuStorage).host).toBeUndefined();
    const g = await ops.gather(x, top, 0).data();
    const xs = await x.data();
    expect(Array.from(g)).toEqual([xs[2], xs[3], xs[6], xs[7], xs[4], xs[5]]);
    for (const t of [x, scores, top]) t.dispose();
  });

  it('describes the adapter and the matmul choice; a second backend reuses the tuning', async () => {
    expect(gpu.describe()).toMatch(/webgpu on .*matmul autotuned/);
    const info = gpu.adapterInfo();
    expect(info.limits.maxBufferSize).toBeGreaterThan(0);
    const t0 = performance.now();
    const again = await createWebGpuBackend();
    const ms = performance.now() - t0;
    expect(again.tuner.summary()).toBe(gpu.tuner.summary());
    expect(ms, 'the second backend on the same adapter does not time the kernels again').toBeLessThan(2000);
    await again.destroy();
  });
});

describe('webgpu without an adapter', () => {
  it('says what to install', async () => {
    // Asking Dawn for an adapter that does not exist finds none, like a machine without Vulkan.
    const err = await createWebGpuBackend({ dawnFlags: ['adapter=no-such-adapter'] }).then(
      async (b) => { await b.destroy(); return undefined; },
      (e: Error) => e,
    );
    expect(err?.name).toBe('KarakoramError');
    expect(err?.message).toContain('apt-get install chromium libvulkan1');
    expect(err?.message).toContain('VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json');
  });
});
