/**
 * Finding a GPU: `navigator.gpu` in browsers, the `webgpu` package (Dawn) in Node. On a Linux
 * machine without a GPU, Dawn runs on SwiftShader's Vulkan driver, which Debian ships with chromium.
 */
import { KarakoramError } from '@karakoram/core';

/** Debian chromium's SwiftShader Vulkan ICD; in Node, VK_ICD_FILENAMES is pointed at it when it exists and nothing else is set. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** How to find a WebGPU adapter: one you already have, a power preference, or Dawn flags in Node. */
export interface AcquireOptions {
  /** An adapter you already have (skips discovery). */
  adapter?: GPUAdapter;
  powerPreference?: GPUPowerPreference;
  /** Flags for Dawn's create() in Node (e.g. 'backend=vulkan'); ignored in browsers. */
  dawnFlags?: string[];
}

export interface Acquired {
  adapter: GPUAdapter;
  device: GPUDevice;
  /** The object returned by the webgpu package's create(): Node does not exit while it is reachable. */
  gpu: GPU | undefined;
  /** 'browser' or 'node (dawn)'. */
  runtime: string;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

const INSTALL_HINT =
  'no WebGPU adapter was found. In a browser, use one with WebGPU enabled (Chrome/Edge 113+, or headless Chromium with ' +
  '--enable-unsafe-webgpu). In Node, @karakoram/backend-webgpu uses the `webgpu` package (Dawn); on a Linux machine ' +
  'without a GPU it runs on SwiftShader: on Debian/Ubuntu run `apt-get install chromium libvulkan1` and set ' +
  `VK_ICD_FILENAMES=${SWIFTSHADER_ICD} (set automatically when that file exists)`;

/** Node: points Vulkan at SwiftShader when nothing else was chosen and chromium's ICD file exists. */
async function setSwiftShaderIcd(): Promise<void> {
  if (!isNode || process.env.VK_ICD_FILENAMES) return;
  const fs = await import('node:fs');
  if (fs.existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
}

async function nodeGpu(flags: string[]): Promise<GPU> {
  await setSwiftShaderIcd();
  let mod: { create: (o: string[]) => GPU; globals: object };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    throw new KarakoramError('no-adapter', `${INSTALL_HINT}; loading the \`webgpu\` package failed: ${(e as Error).message}`, 'webgpu');
  }
  // GPUBufferUsage, GPUMapMode and friends are globals in browsers; Dawn provides them for Node.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  return mod.create(flags);
}

/** The adapter's limits we raise above the WebGPU defaults when the adapter allows. */
const WANTED_LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup'] as const;

export async function acquire(opts: AcquireOptions): Promise<Acquired> {
  let gpu: GPU | undefined;
  let adapter = opts.adapter ?? null;
  let runtime = 'browser';
  if (!adapter) {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav?.gpu && !isNode) {
      adapter = await nav.gpu.requestAdapter({ powerPreference: opts.powerPreference });
    } else if (isNode) {
      runtime = 'node (dawn)';
      gpu = await nodeGpu(opts.dawnFlags ?? []);
      try {
        adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
      } catch {
        adapter = null;
      }
    }
  }
  if (!adapter) {
    gpu = undefined; // let Node exit
    throw new KarakoramError('no-adapter', INSTALL_HINT, 'webgpu');
  }
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const device = await adapter.requestDevice({ requiredLimits });
  return { adapter, device, gpu, runtime };
}

/** vendor / architecture / device / description, whichever the adapter tells. */
export function adapterName(adapter: GPUAdapter): string {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  if (!info) return 'unknown adapter';
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length);
  return parts.length ? parts.join(' / ') : 'unknown adapter';
}

/** True for software rasterizers (SwiftShader, llvmpipe, WARP): a CPU pretending to be a GPU. */
export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const s = `${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.device ?? ''} ${info?.description ?? ''}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|software|warp|cpu/.test(s);
}
