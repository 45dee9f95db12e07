import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, KarakoramError, Registry, createRuntime, ops, registry } from '@karakoram/core';
import { createCpuBackend, register as registerCpu } from '@karakoram/backend-cpu';
import { createTfjsBackend, register } from '../src/index.js';

// These machines have neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node (their install
// downloads libtensorflow from outside the npm registry), so the default order lands on wasm.

beforeAll(() => {
  registerCpu();
  register();
});

describe('backend tfjs-node-gpu in the registry', () => {
  it('register() adds the name to a registry', () => {
    const r = new Registry();
    register(r);
    expect(r.names('backend')).toEqual(['tfjs-node-gpu']);
  });

  it('by default runs on the first tfjs backend that starts and says why the others did not', async () => {
    const rt = await createRuntime({ backend: 'tfjs-node-gpu' });
    expect(rt.backend.name).toBe('tfjs-node-gpu');
    const d = rt.backend.describe();
    expect(d).toContain("tfjs 'wasm'");
    expect(d).toContain('tfjs-node-gpu not installed');
    expect(d).toContain('npm i @tensorflow/tfjs-node-gpu');
    expect(d).toContain('tfjs-node not installed');
    expect(rt.fellBackFrom).toEqual([]);
  });

  it('an explicit tfjs backend is used and named', async () => {
    const rt = await createRuntime({ backend: { name: 'tfjs-node-gpu', options: { tfjsBackend: 'cpu' } } });
    expect(rt.backend.describe()).toContain("tfjs 'cpu'");
    expect(rt.backend.describe()).toContain("tfjsBackend 'cpu'");
  });

  it('requireGpu without tfjs-node-gpu falls back to the next backend, with the reason recorded', async () => {
    const rt = await createRuntime({ backend: { name: 'tfjs-node-gpu', options: { requireGpu: true }, fallback: ['cpu'] } });
    expect(rt.backend.name).toBe('cpu');
    expect(rt.fellBackFrom).toHaveLength(1);
    expect(rt.fellBackFrom[0]!.name).toBe('tfjs-node-gpu');
    expect(rt.fellBackFrom[0]!.reason).toContain('tfjs-node-gpu not installed');
    expect(rt.fellBackFrom[0]!.reason).toContain('npm i @tensorflow/tfjs-node-gpu');
  });

  it('requireGpu (or tfjsBackend tensorflow-gpu) without a fallback throws what to install', async () => {
    for (const options of [{ requireGpu: true }, { tfjsBackend: 'tensorflow-gpu' }]) {
      const e = await createRuntime({ backend: { name: 'tfjs-node-gpu', options } }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KarakoramError);
      const msg = (e as Error).message;
      for (const part of ['tfjs-node-gpu not installed', 'npm i @tensorflow/tfjs-node-gpu', 'CUDA 11.2', 'cuDNN 8.1', 'Linux x64']) expect(msg).toContain(part);
    }
    const n = await createTfjsBackend({ tfjsBackend: 'tensorflow' }).catch((x: unknown) => x);
    expect((n as Error).message).toContain('npm i @tensorflow/tfjs-node');
  });

  it('bad options fail before any work, naming the field', async () => {
    const e = await createRuntime({ backend: { name: 'tfjs-node-gpu', options: { tfjsBackend: 'webgl' } } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toContain('tfjsBackend');
    await expect(createTfjsBackend({ tfjsBackend: 'cpu', requireGpu: true })).rejects.toThrow(/requireGpu/);
  });

  it('registry discovery finds the name once registered', () => {
    expect(registry.has('backend', 'tfjs-node-gpu')).toBe(true);
  });
});

describe('ops.toBackend', () => {
  it('copies between the cpu backend and this one, both ways', async () => {
    const cpu = await createCpuBackend();
    const tfb = await createTfjsBackend({ tfjsBackend: 'wasm' });
    const before = tfb.memory().buffers;
    const a = ops.tensor([1.5, -2, 3, 4, 5, 6], [2, 3], 'f32', cpu);
    const b = await ops.toBackend(a, tfb);
    expect(b.backend).toBe(tfb);
    expect([...b.shape]).toEqual([2, 3]);
    const sq = ops.mul(b, b);
    const c = await ops.toBackend(sq, cpu);
    expect(Array.from(await c.data())).toEqual([2.25, 4, 9, 16, 25, 36]);
    const i = await ops.toBackend(ops.tensor([7, -8], [2], 'i32', cpu), tfb);
    expect(i.dtype).toBe('i32');
    expect(Array.from(await i.data())).toEqual([7, -8]);
    const same = await ops.toBackend(b, tfb);
    expect(tfb.memory().buffers, 'same backend: shares the storage').toBe(before + 3);
    for (const t of [a, b, c, i, same, sq]) t.dispose();
    expect(tfb.memory().buffers).toBe(before);
  });
});
