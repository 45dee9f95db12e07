import * as tf from '@tensorflow/tfjs-core';
import { KarakoramError } from '@karakoram/core';
import { TfjsBackend, type TfjsBackendName } from './backend.js';

/** Options of createTfjsBackend: which tfjs backend to run on, and where the wasm files are. */
export interface TfjsBackendOptions {
  /**
   * The tfjs backend to run on. Unset: the first that works of tfjs-node-gpu ('tensorflow-gpu'),
   * tfjs-node ('tensorflow'), tfjs-backend-wasm ('wasm'), tfjs-backend-cpu ('cpu').
   * Set: that one only, or a KarakoramError saying why not.
   */
  tfjsBackend?: TfjsBackendName;
  /** Same as tfjsBackend: 'tensorflow-gpu', and also refuse a tfjs-node-gpu that finds no GPU. */
  requireGpu?: boolean;
  /** Where tfjs-backend-wasm loads its .wasm files from (default in Node: the package's dist/). */
  wasmPaths?: string;
}

/** The order createTfjsBackend tries tfjs backends in when none is chosen: GPU first, pure-JS cpu last. */
export const TFJS_BACKEND_ORDER: readonly TfjsBackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** What a user installs to get CUDA through tfjs-node-gpu (checked against the tfjs-node 4.x README). */
export const TFJS_NODE_GPU_INSTALL =
  'npm i @tensorflow/tfjs-node-gpu (4.x runs on Linux x64 and Windows x64 with an NVIDIA GPU, driver >= 450, CUDA 11.2 and cuDNN 8.1; ' +
  'its install script downloads libtensorflow 2.9.1 for GPU from storage.googleapis.com)';

const PACKAGE: Record<TfjsBackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};
const SHORT: Record<TfjsBackendName, string> = {
  'tensorflow-gpu': 'tfjs-node-gpu',
  tensorflow: 'tfjs-node',
  wasm: 'tfjs-backend-wasm',
  cpu: 'tfjs-backend-cpu',
};

class Unavailable extends Error {}

const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

async function importPackage(name: TfjsBackendName): Promise<Record<string, unknown>> {
  const pkg = PACKAGE[name];
  try {
    // A variable specifier: the optional peers are not installed at build time.
    return (await import(/* @vite-ignore */ pkg)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const msg = String((e as Error).message);
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && msg.includes(pkg)) {
      throw new Unavailable(`${SHORT[name]} not installed${name === 'tensorflow-gpu' ? ` (${TFJS_NODE_GPU_INSTALL})` : name === 'tensorflow' ? ' (npm i @tensorflow/tfjs-node)' : ''}`);
    }
    throw new Unavailable(`${SHORT[name]} failed to load: ${msg.split('\n')[0]}`);
  }
}

async function wasmDir(): Promise<string | undefined> {
  if (!isNode()) return undefined;
  const { createRequire } = await import('node:module');
  const path = await import('node:path');
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
}

/** Loads and initialises one tfjs backend; returns a description, or throws Unavailable. */
async function start(name: TfjsBackendName, opts: TfjsBackendOptions): Promise<string> {
  const mod = await importPackage(name);
  const tfName = name === 'tensorflow-gpu' ? 'tensorflow' : name;
  if (name === 'wasm') {
    const paths = opts.wasmPaths ?? (await wasmDir());
    if (paths) (mod.setWasmPaths as (p: string) => void)(paths);
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfName);
    await tf.ready();
  } catch (e) {
    throw new Unavailable(`${SHORT[name]} failed to initialise: ${String((e as Error).message).split('\n')[0]}`);
  }
  if (!ok) throw new Unavailable(`${SHORT[name]} failed to initialise (tf.setBackend('${tfName}') returned false)`);
  const version = (mod.version as string | undefined) ?? tf.version_core;
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow': {
      const be = tf.backend() as { isGPUPackage?: boolean; isUsingGpuDevice?: boolean };
      if (name === 'tensorflow-gpu' && be.isGPUPackage === false) {
        throw new Unavailable(`tfjs-node-gpu not installed: the 'tensorflow' tfjs backend comes from tfjs-node (the CPU build) (${TFJS_NODE_GPU_INSTALL})`);
      }
      if (name === 'tensorflow' && be.isGPUPackage) return `tfjs 'tensorflow' (tfjs-node-gpu ${version}, libtensorflow ${be.isUsingGpuDevice ? 'on the GPU via CUDA' : 'found no GPU: running on CPU'})`;
      if (name === 'tensorflow-gpu') {
        if (be.isUsingGpuDevice === false && opts.requireGpu) {
          throw new Unavailable('tfjs-node-gpu is installed but libtensorflow found no usable GPU (check the NVIDIA driver and that CUDA 11.2 and cuDNN 8.1 libraries are on LD_LIBRARY_PATH)');
        }
        return `tfjs 'tensorflow' (tfjs-node-gpu ${version}, libtensorflow ${be.isUsingGpuDevice === false ? 'found no GPU: running on CPU' : 'on the GPU via CUDA'})`;
      }
      return `tfjs 'tensorflow' (tfjs-node ${version}, libtensorflow on CPU)`;
    }
    case 'wasm': {
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      return `tfjs 'wasm' (tfjs-backend-wasm ${tf.version_core}, XNNPACK, ${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'threads' : 'one thread'})`;
    }
    case 'cpu':
      return `tfjs 'cpu' (tfjs-backend-cpu ${tf.version_core}, plain JavaScript)`;
  }
}

/**
 * Creates the backend over tfjs. By default it tries tfjs-node-gpu (CUDA), tfjs-node, tfjs-backend-wasm
 * and tfjs-backend-cpu in that order, and describe() says which one runs and why the ones before it
 * did not. An explicit choice (tfjsBackend, or requireGpu) that cannot be met throws a
 * KarakoramError saying what to install, so createRuntime's `fallback` list moves on.
 */
export async function createTfjsBackend(opts: TfjsBackendOptions = {}): Promise<TfjsBackend> {
  if (opts.requireGpu && opts.tfjsBackend && opts.tfjsBackend !== 'tensorflow-gpu') {
    throw new KarakoramError('config', `requireGpu needs tfjsBackend 'tensorflow-gpu' (tfjs-node-gpu), got '${opts.tfjsBackend}'`, 'backend tfjs-node-gpu');
  }
  const explicit = opts.requireGpu ? 'tensorflow-gpu' : opts.tfjsBackend;
  if (explicit && !TFJS_BACKEND_ORDER.includes(explicit)) {
    throw new KarakoramError('config', `unknown tfjsBackend '${String(explicit)}' (expected one of ${TFJS_BACKEND_ORDER.join(', ')})`, 'backend tfjs-node-gpu');
  }
  const order = explicit ? [explicit] : TFJS_BACKEND_ORDER;
  const notUsed: string[] = [];
  for (const name of order) {
    try {
      const what = await start(name, opts);
      const why = explicit ? (opts.requireGpu ? 'requireGpu' : `tfjsBackend '${explicit}'`) : notUsed.length ? `not used: ${notUsed.join('; ')}` : 'the first choice';
      return new TfjsBackend({ tfjsBackend: name, description: `tfjs-node-gpu backend on ${what}; ${why}` });
    } catch (e) {
      if (!(e instanceof Unavailable)) throw e;
      if (explicit) {
        throw new KarakoramError('backend-unavailable', e.message, 'backend tfjs-node-gpu');
      }
      notUsed.push(e.message);
    }
  }
  throw new KarakoramError('backend-unavailable', `no tfjs backend could start: ${notUsed.join('; ')}`, 'backend tfjs-node-gpu');
}
