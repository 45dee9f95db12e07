import type { Registry } from '@karakoram/core';
import { registry as defaultRegistry } from '@karakoram/core';
import { CpuBackend, type CpuBackendOptions } from './backend.js';
import { createWasmMatmul, type WasmMatmul, type WasmMatmulOptions } from './wasm/matmul-wasm.js';
import { WasmElementwise } from './wasm/elementwise.js';

export { CpuBackend, CpuStorage, type CpuBackendOptions, type MatmulKernel } from './backend.js';
export { matmulJs } from './kernels/matmul-js.js';
export { createWasmMatmul, type WasmMatmul, type WasmMatmulOptions } from './wasm/matmul-wasm.js';
export { detectFeatures, type WasmFeatures } from './wasm/gemm-kernel.js';

/** Options of createCpuBackend: backend settings plus those of the WebAssembly matmul kernel. */
export interface CreateCpuBackendOptions extends CpuBackendOptions, WasmMatmulOptions {
  /** false: keep the JavaScript matmul (no WebAssembly, no workers). */
  wasm?: boolean;
}

// One wasm kernel (memory + workers) per configuration, shared by every backend that asks for it:
// tests and apps create many backends, and each extra worker set would just compete for the cores.
const kernels = new Map<string, Promise<WasmMatmul | undefined>>();

function sharedKernel(o: WasmMatmulOptions): Promise<WasmMatmul | undefined> {
  const key = JSON.stringify([o.threads ?? null, o.fma ?? null, o.shape ?? null]);
  let p = kernels.get(key);
  if (!p) {
    p = createWasmMatmul(o).catch(() => undefined);
    kernels.set(key, p);
  }
  return p;
}

/** The SIMD elementwise kernels, shared by every backend (null: unavailable). */
let simd: WasmElementwise | null | undefined;

/**
 * Creates the cpu backend with the fast matmul: WebAssembly SIMD on all cores where the platform
 * allows, falling back to single-threaded wasm and then to plain JavaScript. Async because
 * compiling wasm and starting workers is. `new CpuBackend()` stays the synchronous, JS-only path.
 */
export async function createCpuBackend(opts: CreateCpuBackendOptions = {}): Promise<CpuBackend> {
  if (opts.matmul || opts.wasm === false) return new CpuBackend(opts);
  const fast = await sharedKernel(opts);
  if (!fast) return new CpuBackend(opts);
  simd ??= WasmElementwise.create() ?? null;
  return new CpuBackend({ ...opts, matmul: fast.kernel, simd: simd ?? undefined, describe: opts.describe ?? fast.description });
}

/** Registers 'cpu' with a registry (the default one when called with none). */
export function register(r: Registry = defaultRegistry): void {
  r.register('backend', 'cpu', (o: Record<string, unknown>) => createCpuBackend(o as CreateCpuBackendOptions), 'TypeScript + WebAssembly SIMD kernels on worker threads; Node and browsers');
}
