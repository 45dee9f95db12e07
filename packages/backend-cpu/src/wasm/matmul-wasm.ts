import type { MatmulKernel } from '../backend.js';
import { matmulJs } from '../kernels/matmul-js.js';
import { CONTROL_BYTES, Ctl, runGemmPart, type GemmExports } from './gemm-driver.js';
import { DEFAULT_SHAPE, buildGemmModule, detectFeatures, type KernelShape, type WasmFeatures } from './gemm-kernel.js';
import { defaultThreadCount, startPool, type ThreadPool } from './threads.js';

/** Options of the WebAssembly matmul kernel: thread count, FMA and micro-kernel shape. */
export interface WasmMatmulOptions {
  /** Threads including the calling one; default: all available parallelism. 1 = no workers. */
  threads?: number;
  /** Use relaxed-SIMD FMA when the engine has it (default true). */
  fma?: boolean;
  /** Override the micro-kernel shape (tuning experiments). */
  shape?: Partial<KernelShape>;
}

/** A ready WebAssembly SIMD matmul: the kernel to plug into CpuBackend and what it runs with. */
export interface WasmMatmul {
  readonly kernel: MatmulKernel;
  readonly description: string;
  readonly features: WasmFeatures;
  readonly threads: number;
  /** Terminates the worker threads (if any). */
  dispose(): Promise<void>;
}

const PAGE = 65536;
/** K block: a packed B panel (KC*NR floats, 8 KB at NR=8) stays in L1 during the tile loop. */
const KC = 256;
/** Largest row block: its packed A (MC*KC floats, 128 KB) stays in L2 (512 KB here). */
const MC_MAX = 128;
const MC_MIN = 32;
/** Below this many multiply-adds the JS kernel wins: no copies in and out of wasm memory. */
const JS_BELOW = 4096;
/** Below this many multiply-adds waking a worker (tens of microseconds) costs more than it saves. */
const THREADS_FROM = 1 << 21;

const align = (x: number, a: number): number => Math.ceil(x / a) * a;

/**
 * Creates the WebAssembly SIMD matmul kernel, or undefined where wasm SIMD is unavailable
 * (the caller keeps the JS kernel).
 */
export async function createWasmMatmul(opts: WasmMatmulOptions = {}): Promise<WasmMatmul | undefined> {
  const features = detectFeatures();
  if (!features.simd) return undefined;
  const shape: KernelShape = { ...DEFAULT_SHAPE, fma: (opts.fma ?? true) && features.relaxedSimd, ...opts.shape };
  const wanted = Math.max(1, Math.floor(opts.threads ?? (await defaultThreadCount())));

  // Shared memory needs a declared maximum; engines differ in how much address space they grant.
  let mem: WebAssembly.Memory | undefined;
  let maxPages = 65536;
  const shared = features.threads && wanted > 1;
  while (!mem && maxPages >= 4096) {
    try {
      mem = new WebAssembly.Memory({ initial: 64, maximum: maxPages, shared });
    } catch {
      maxPages >>= 1;
    }
  }
  if (!mem) return undefined;
  const memory = mem;
  const module = await WebAssembly.compile(buildGemmModule(shape, shared, maxPages));
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const ex = instance.exports as unknown as GemmExports;

  let pool: ThreadPool | undefined;
  if (shared) {
    try {
      pool = await startPool(memory, module, wanted - 1);
    } catch {
      pool = undefined;
    }
  }
  const threads = 1 + (pool?.size ?? 0);
  let ctrl = new Int32Array(memory.buffer, 0, Ctl.SIZE);
  let f32 = new Float32Array(memory.buffer);
  const { mr: MR, nr: NR, unroll: U } = shape;

  const ensure = (bytes: number): void => {
    const have = memory.buffer.byteLength;
    if (bytes > have) {
      const pages = Math.ceil((bytes - have) / PAGE);
      if (have / PAGE + pages > maxPages) throw new RangeError(`matmul needs ${bytes} bytes of wasm memory; the limit is ${maxPages * PAGE}`);
      memory.grow(pages);
    }
    // A grown unshared memory detaches the old views; a shared one just needs longer ones.
    if (f32.buffer !== memory.buffer || f32.buffer.byteLength !== memory.buffer.byteLength) {
      f32 = new Float32Array(memory.buffer);
      ctrl = new Int32Array(memory.buffer, 0, Ctl.SIZE);
    }
  };

  const kernel: MatmulKernel = (a, b, c, m, n, k, transA, transB, batch = 1, aStride = m * k, bStride = k * n) => {
    if (m * n === 0 || batch === 0) return;
    if (k === 0) { c.fill(0, 0, batch * m * n); return; }
    const work = m * n * k * batch;
    if (m * n * k < JS_BELOW) { matmulJs(a, b, c, m, n, k, transA, transB, batch, aStride, bStride); return; }
    // A and B go in once each when shared by every item (stride 0).
    const aItems = aStride === 0 ? 1 : batch;
    const bItems = bStride === 0 ? 1 : batch;
    const useThreads = pool !== undefined && work >= THREADS_FROM ? threads : 1;
    const nPanels = Math.ceil(n / NR);
    const ldc = nPanels * NR;
    // Enough row blocks for every thread to take several, so a thread that loses its core for a
    // while (the cores here are shared) leaves little tail for the others to wait on.
    // At least MC_MIN rows, so each packed B panel is reused from L1 enough times.
    // A multiple of MR, so no micro-tile straddles two row blocks (two threads would write its rows).
    const mc = align(Math.min(MC_MAX, Math.max(MC_MIN, Math.ceil(m / (8 * useThreads)))), MR);
    const mBlocks = Math.ceil(m / mc);
    const nBlocks = batch * mBlocks >= 2 * useThreads ? 1 : Math.min(nPanels, Math.ceil((2 * useThreads) / mBlocks));
    const nchPanels = Math.ceil(nPanels / nBlocks);
    const ppt = Math.max(1, Math.ceil(nPanels / (2 * useThreads)));
    const kBlocks = Math.ceil(k / KC);

    // Float offsets; every region 64-byte aligned.
    const aItem = align(m * k, 16), bItem = align(k * n, 16), cItem = align(align(m, MR) * ldc, 16), btItem = align((k + U) * ldc, 16);
    const aOff = CONTROL_BYTES / 4;
    const bOff = aOff + aItems * aItem;
    const cOff = bOff + bItems * bItem;
    const btOff = cOff + batch * cItem;
    const atOff = btOff + bItems * btItem;
    const atStride = align(mc * (KC + U), 16);
    const chunksPer = mBlocks * nBlocks;
    const chunks = batch * chunksPer;
    const doneOff = atOff + atStride * useThreads;
    ensure((doneOff + align(chunks, 16)) * 4);
    f32.fill(0, doneOff, doneOff + chunks);

    for (let i = 0; i < bItems; i++) f32.set(b.subarray(i * bStride, i * bStride + k * n), bOff + i * bItem);
    ctrl[Ctl.A] = aOff; ctrl[Ctl.B] = bOff; ctrl[Ctl.C] = cOff; ctrl[Ctl.BT] = btOff;
    ctrl[Ctl.AT] = atOff; ctrl[Ctl.AT_STRIDE] = atStride;
    ctrl[Ctl.M] = m; ctrl[Ctl.N] = n; ctrl[Ctl.K] = k;
    ctrl[Ctl.TRANS_A] = transA ? 1 : 0; ctrl[Ctl.TRANS_B] = transB ? 1 : 0;
    ctrl[Ctl.LDC] = ldc; ctrl[Ctl.MR] = MR; ctrl[Ctl.NR] = NR; ctrl[Ctl.UNROLL] = U;
    ctrl[Ctl.KC] = KC; ctrl[Ctl.MC] = mc; ctrl[Ctl.NCH_PANELS] = nchPanels;
    ctrl[Ctl.PACK_TASKS] = bItems * kBlocks * Math.ceil(nPanels / ppt); ctrl[Ctl.PANELS_PER_TASK] = ppt;
    ctrl[Ctl.CHUNKS] = chunks; ctrl[Ctl.M_BLOCKS] = mBlocks; ctrl[Ctl.DONE] = doneOff;
    ctrl[Ctl.PACK_NEXT] = 0; ctrl[Ctl.WORK_NEXT] = 0;
    ctrl[Ctl.BATCH] = batch; ctrl[Ctl.A_ITEM] = aItems === 1 ? 0 : aItem; ctrl[Ctl.B_ITEM] = bItems === 1 ? 0 : bItem;
    ctrl[Ctl.C_ITEM] = cItem; ctrl[Ctl.BT_ITEM] = bItems === 1 ? 0 : btItem;
    const copyA = (): void => {
      for (let i = 0; i < aItems; i++) f32.set(a.subarray(i * aStride, i * aStride + m * k), aOff + i * aItem);
    };

    const copyOut = (chAll: number): void => {
      const item = Math.floor(chAll / chunksPer);
      const ch = chAll - item * chunksPer;
      const src = cOff + item * cItem, dst = item * m * n;
      const bj = Math.floor(ch / mBlocks);
      const i0 = (ch - bj * mBlocks) * mc;
      const i1 = Math.min(m, i0 + mc);
      const j0 = bj * nchPanels * NR;
      const j1 = Math.min(n, j0 + nchPanels * NR);
      if (i1 <= i0 || j1 <= j0) return;
      if (ldc === n && j0 === 0 && j1 === n) c.set(f32.subarray(src + i0 * n, src + i1 * n), dst + i0 * n);
      else for (let i = i0; i < i1; i++) c.set(f32.subarray(src + i * ldc + j0, src + i * ldc + j1), dst + i * n + j0);
    };

    if (useThreads > 1) {
      // Wake the workers first: they pack B while this thread copies A in (PACK_DONE starts at -1
      // so nobody passes the packing barrier, and so reads A, before A is in place).
      ctrl[Ctl.PACK_DONE] = -1;
      pool!.start();
      let copied: Uint8Array | undefined;
      try {
        copyA();
        if (Atomics.add(ctrl, Ctl.PACK_DONE, 1) + 1 === ctrl[Ctl.PACK_TASKS]) Atomics.notify(ctrl, Ctl.PACK_DONE);
        runGemmPart(ex, f32, ctrl, 0);
        // Copy out the blocks already finished while the workers finish theirs.
        copied = new Uint8Array(chunks);
        const i32 = new Int32Array(memory.buffer, 0, doneOff + chunks);
        for (let ch = 0; ch < chunks; ch++) {
          if (Atomics.load(i32, doneOff + ch) === 1) { copyOut(ch); copied[ch] = 1; }
        }
      } finally {
        pool!.join();
      }
      for (let ch = 0; ch < chunks; ch++) if (copied[ch] === 0) copyOut(ch);
    } else {
      ctrl[Ctl.PACK_DONE] = 0;
      copyA();
      runGemmPart(ex, f32, ctrl, 0);
      for (let i = 0; i < batch; i++) {
        const src = cOff + i * cItem;
        if (ldc === n) c.set(f32.subarray(src, src + m * n), i * m * n);
        else for (let r = 0; r < m; r++) c.set(f32.subarray(src + r * ldc, src + r * ldc + n), i * m * n + r * n);
      }
    }
  };

  // V8 first runs wasm in its baseline tier and swaps in optimized code only for later calls;
  // a few calls here make the first real matmul run at full speed.
  const wa = new Float32Array(256 * 256).fill(1);
  const wc = new Float32Array(256 * 256);
  for (let i = 0; i < 6; i++) kernel(wa, wa, wc, 256, 256, 256, false, false);

  const what = `wasm simd${shape.fma ? ' + relaxed fma' : ''}`;
  return {
    kernel,
    features,
    threads,
    description: `cpu (${what}, ${threads} thread${threads > 1 ? 's' : ''})`,
    async dispose() {
      await pool?.terminate();
    },
  };
}
