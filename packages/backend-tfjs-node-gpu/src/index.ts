import { parseConfig, registry as defaultRegistry, z, type Registry } from '@karakoram/core';
import { createTfjsBackend, type TfjsBackendOptions } from './create.js';

export { TfjsBackend, TfjsStorage, type TfjsBackendName, type TfjsBackendInit } from './backend.js';
export { createTfjsBackend, TFJS_BACKEND_ORDER, TFJS_NODE_GPU_INSTALL, type TfjsBackendOptions } from './create.js';

/** The options a config may give backend 'tfjs-node-gpu'. */
export const TfjsBackendConfig = z
  .object({
    tfjsBackend: z.enum(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).optional(),
    requireGpu: z.boolean().optional(),
    wasmPaths: z.string().optional(),
  })
  .strict();

/** Registers backend 'tfjs-node-gpu' (options: { tfjsBackend, requireGpu, wasmPaths }). */
export function register(r: Registry = defaultRegistry): void {
  r.register(
    'backend',
    'tfjs-node-gpu',
    (o: Record<string, unknown> = {}) => createTfjsBackend(parseConfig(TfjsBackendConfig, o, 'backend tfjs-node-gpu options') as TfjsBackendOptions),
    'TensorFlow.js ops: tfjs-node-gpu (CUDA) when installed, else tfjs-node, tfjs-backend-wasm, tfjs-backend-cpu',
  );
}
