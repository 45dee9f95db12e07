/**
 * @karakoram/backend-webgpu: every Karakoram primitive as generated WGSL compute shaders, on
 * `navigator.gpu` in browsers and on Dawn (the `webgpu` package) in Node.
 *
 * ```ts
 * import { createWebGpuBackend } from '@karakoram/backend-webgpu';
 * const backend = await createWebGpuBackend();
 * // ... ops on it; reads are asynchronous: await tensor.data()
 * backend.destroy(); // lets Node exit
 * ```
 */
import type { Registry } from '@karakoram/core';
import { registry as defaultRegistry } from '@karakoram/core';
import { WebGpuBackend, type WebGpuBackendOptions } from './backend.js';
import { acquire, type AcquireOptions } from './device.js';

export { WebGpuBackend, WebGpuStorage, type WebGpuBackendOptions, type WebGpuMemoryInfo } from './backend.js';
export { SWIFTSHADER_ICD, adapterName, isSoftwareAdapter, type AcquireOptions } from './device.js';
export { MatmulTuner, shapeClass, type ShapeClass, type TuneOptions } from './autotune.js';
export type { MatmulShape, MatmulVariant } from './kernels/matmul.js';
export type { PoolStats } from './pool.js';

/** Options of createWebGpuBackend: adapter/device acquisition plus backend and tuning settings. */
export interface CreateWebGpuBackendOptions extends AcquireOptions, WebGpuBackendOptions {}

/**
 * Finds an adapter, opens a device and times the matmul variants on it (once per adapter and
 * process). Throws a KarakoramError (code 'no-adapter') that says what to install when there is
 * no adapter.
 */
export async function createWebGpuBackend(opts: CreateWebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  const acq = await acquire(opts);
  const backend = new WebGpuBackend(acq, opts);
  try {
    await backend.tuner.tune();
  } catch (e) {
    backend.destroy();
    throw e;
  }
  return backend;
}

/** Registers 'webgpu' with a registry (the default one when called with none). */
export function register(r: Registry = defaultRegistry): void {
  r.register('backend', 'webgpu', (o: Record<string, unknown>) => createWebGpuBackend(o as CreateWebGpuBackendOptions), 'WGSL compute shaders on WebGPU: navigator.gpu in browsers, Dawn (the webgpu package) in Node');
}
