import { Ctl, JOIN_CLOSED, runGemmPart } from './gemm-driver.js';

/**
 * Worker threads for the GEMM. The main thread stays synchronous (Backend.matmul is sync): it
 * publishes a job in the control block, wakes the workers with Atomics.notify, runs its own share
 * and blocks in Atomics.wait (allowed on Node's main thread) until every worker has checked in.
 *
 * The worker's code is a string (driver source via toString) run with `eval: true`, so it needs
 * no file path and works the same from src/ (vitest) and dist/.
 */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const runGemmPart = ${runGemmPart.toString()};
const { memory, module, tid } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const ex = instance.exports;
const ctrl = new Int32Array(memory.buffer, 0, ${Ctl.SIZE});
let f32 = new Float32Array(memory.buffer);
let seen = Atomics.load(ctrl, ${Ctl.GEN});
parentPort.postMessage('ready');
for (;;) {
  Atomics.wait(ctrl, ${Ctl.GEN}, seen);
  seen = Atomics.load(ctrl, ${Ctl.GEN});
  // A grown shared memory keeps its address but needs a longer view.
  if (f32.buffer.byteLength !== memory.buffer.byteLength) f32 = new Float32Array(memory.buffer);
  // A worker that wakes after the main thread finished the job on its own stays out of it.
  if ((Atomics.add(ctrl, ${Ctl.JOIN}, 1) & ${JOIN_CLOSED}) !== 0) continue;
  try {
    runGemmPart(ex, f32, ctrl, tid);
  } catch (e) {
    Atomics.store(ctrl, ${Ctl.ERROR}, 1);
    parentPort.postMessage(String(e && e.stack || e));
  }
  Atomics.add(ctrl, ${Ctl.FINISHED}, 1);
  Atomics.notify(ctrl, ${Ctl.FINISHED});
}
`;

interface NodeWorker {
  unref(): void;
  terminate(): Promise<number>;
  once(ev: string, fn: (v: unknown) => void): void;
  on(ev: string, fn: (v: unknown) => void): void;
}

export interface ThreadPool {
  readonly size: number;
  /** Wakes every worker on the job already written to the control block. */
  start(): void;
  /**
   * Closes the job to workers that have not woken yet (the main thread has done all of it they
   * would have taken) and blocks until the ones that joined have finished.
   */
  join(): void;
  terminate(): Promise<void>;
}

/** How many threads (main included) to use by default: all available parallelism. */
export async function defaultThreadCount(): Promise<number> {
  try {
    const os = await import('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  } catch {
    const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
    return nav?.hardwareConcurrency ?? 1;
  }
}

/**
 * Starts `workers` worker threads on a shared memory. Resolves to undefined where Node's
 * worker_threads is unavailable (browsers: their main thread may not Atomics.wait, so the
 * kernel runs single-threaded there).
 */
export async function startPool(memory: WebAssembly.Memory, module: WebAssembly.Module, workers: number): Promise<ThreadPool | undefined> {
  if (workers <= 0) return undefined;
  let wt: { Worker: new (src: string, o: object) => NodeWorker };
  try {
    wt = (await import('node:worker_threads')) as unknown as typeof wt;
  } catch {
    return undefined;
  }
  const ctrl = new Int32Array(memory.buffer, 0, Ctl.SIZE);
  const list: NodeWorker[] = [];
  let lastError = '';
  await Promise.all(Array.from({ length: workers }, (_, i) => new Promise<void>((resolve, reject) => {
    const w = new wt.Worker(workerSource, { eval: true, workerData: { memory, module, tid: i + 1 } });
    list.push(w);
    w.once('error', (e) => reject(e as Error));
    w.once('message', () => {
      w.on('message', (msg) => { lastError = String(msg); });
      // A worker parked in Atomics.wait must not keep the process alive.
      w.unref();
      resolve();
    });
  })));
  return {
    size: workers,
    start() {
      Atomics.store(ctrl, Ctl.FINISHED, 0);
      Atomics.store(ctrl, Ctl.JOIN, 0);
      Atomics.add(ctrl, Ctl.GEN, 1);
      Atomics.notify(ctrl, Ctl.GEN);
    },
    join() {
      const target = Atomics.or(ctrl, Ctl.JOIN, JOIN_CLOSED) & ~JOIN_CLOSED;
      for (let spin = 0; spin < 20000 && Atomics.load(ctrl, Ctl.FINISHED) < target; spin++);
      for (;;) {
        const v = Atomics.load(ctrl, Ctl.FINISHED);
        if (v >= target) break;
        Atomics.wait(ctrl, Ctl.FINISHED, v);
      }
      if (Atomics.load(ctrl, Ctl.ERROR) !== 0) {
        Atomics.store(ctrl, Ctl.ERROR, 0);
        throw new Error(`matmul worker failed${lastError ? `: ${lastError}` : ''}`);
      }
    },
    async terminate() {
      await Promise.all(list.map((w) => w.terminate()));
    },
  };
}
