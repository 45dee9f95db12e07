import type { Registry } from '@karakoram/core';
import { registry as defaultRegistry } from '@karakoram/core';
import { CpuBackend, type CpuBackendOptions } from './backend.js';

export { CpuBackend, CpuStorage, type CpuBackendOptions, type MatmulKernel } from './backend.js';
export { matmulJs } from './kernels/matmul-js.js';

/** Creates the cpu backend. */
export function createCpuBackend(opts: CpuBackendOptions = {}): CpuBackend {
  return new CpuBackend(opts);
}

/** Registers 'cpu' with a registry (the default one when called with none). */
export function register(r: Registry = defaultRegistry): void {
  r.register('backend', 'cpu', (o: Record<string, unknown>) => createCpuBackend(o as CpuBackendOptions), 'TypeScript + WebAssembly kernels; Node and browsers');
}
