// f32 matmul throughput: Karakoram's cpu backend against tfjs-backend-cpu and tfjs-backend-wasm,
// in one process, on the same inputs. Runs on the built packages (see README.md).
//
//   node bench/matmul.mjs                 all shapes
//   BENCH_SHAPES=1024,512x256x128 node bench/matmul.mjs
//   BENCH_THREADS=1 taskset -c 0 node bench/matmul.mjs   one core each: kernel against XNNPACK
//   BENCH_TFJS_CPU_MAX_GFLOP=3            skip tfjs-cpu above this many GFLOP per call (it is slow)
import { createRequire } from 'node:module';
import path from 'node:path';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createCpuBackend } from '@karakoram/backend-cpu';

const require = createRequire(import.meta.url);

const SHAPES = (process.env.BENCH_SHAPES ?? '256,512,1024,2048,2048x1024x4096').split(',').map((s) => {
  const d = s.split('x').map(Number);
  return d.length === 1 ? [d[0], d[0], d[0]] : d; // M x K x N
});
const TFJS_CPU_MAX_GFLOP = Number(process.env.BENCH_TFJS_CPU_MAX_GFLOP ?? Infinity);
/** Per backend and shape: stop after this much timed work (or MAX_REPS). */
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 2500);
const MAX_REPS = Number(process.env.BENCH_REPS ?? 10);

function rand(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

// tfjs-backend-wasm in Node loads its .wasm files from disk; point it at the package's dist/.
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
await tf.setBackend('wasm');
await tf.ready();
const wasmSimd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
const wasmThreads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
const wasmFile = `tfjs-backend-wasm${wasmThreads && wasmSimd ? '-threaded-simd' : wasmSimd ? '-simd' : ''}.wasm`;

const cpu = await createCpuBackend(process.env.BENCH_THREADS ? { threads: Number(process.env.BENCH_THREADS) } : {});

/** Each runner: setup(shape) -> { run(): void (computes and reads back), dispose() }. */
const runners = {
  cpu: {
    async setup(m, k, n, A, B) {
      const a = { storage: cpu.upload(A, 'f32'), shape: [1, m, k], dtype: 'f32' };
      const b = { storage: cpu.upload(B, 'f32'), shape: [1, k, n], dtype: 'f32' };
      return {
        run() {
          const c = cpu.matmul(a, b, false, false);
          cpu.readSync({ storage: c, shape: [1, m, n], dtype: 'f32' });
          cpu.dispose(c);
        },
        dispose() { cpu.dispose(a.storage); cpu.dispose(b.storage); },
      };
    },
  },
  'tfjs-cpu': tfjsRunner('cpu'),
  'tfjs-wasm': tfjsRunner('wasm'),
};

function tfjsRunner(name) {
  return {
    async setup(m, k, n, A, B) {
      await tf.setBackend(name);
      const a = tf.tensor2d(A, [m, k]);
      const b = tf.tensor2d(B, [k, n]);
      return {
        run() {
          const c = tf.matMul(a, b);
          c.dataSync();
          c.dispose();
        },
        dispose() { a.dispose(); b.dispose(); },
      };
    },
  };
}

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism?.() ?? os.cpus().length} cpus`);
console.log(`karakoram: ${cpu.describe()}`);
console.log(`tfjs ${tf.version_core}: tfjs-backend-wasm SIMD=${wasmSimd} threads=${wasmThreads} -> ${wasmFile}`);
console.log('');

const rows = [];
for (const [m, k, n] of SHAPES) {
  const gflop = (2 * m * k * n) / 1e9;
  const A = rand(m * k, 1);
  const B = rand(k * n, 2);
  const res = {};
  for (const [name, runner] of Object.entries(runners)) {
    if (name === 'tfjs-cpu' && gflop > TFJS_CPU_MAX_GFLOP) continue;
    const r = await runner.setup(m, k, n, A, B);
    // Warm-up: first calls compile, tier up wasm and grow memories.
    // tfjs-cpu is plain JS (nothing to compile) and takes many seconds per large call.
    const warm = name === 'tfjs-cpu' ? (gflop < 1 ? 1 : 0) : gflop < 1 ? 3 : 1;
    for (let i = 0; i < warm; i++) r.run();
    const times = [];
    let spent = 0;
    while (times.length < MAX_REPS && (spent < BUDGET_MS || times.length < (times[0] > BUDGET_MS ? 1 : 2))) {
      const t = performance.now();
      r.run();
      const dt = performance.now() - t;
      times.push(dt);
      spent += dt;
    }
    r.dispose();
    res[name] = { best: gflop / (Math.min(...times) / 1e3), median: gflop / (median(times) / 1e3), reps: times.length };
  }
  rows.push({ shape: `${m}x${k}x${n}`, ...res });
  const f = (x) => (x ? `${x.best.toFixed(1)} (${x.median.toFixed(1)})` : 'skipped');
  const ratio = (x, y) => (x && y ? `${(x.best / y.best).toFixed(2)}x (${(x.median / y.median).toFixed(2)}x)` : '-');
  console.log(`${`${m}x${k}x${n}`.padEnd(16)} cpu ${f(res.cpu).padEnd(13)} tfjs-cpu ${f(res['tfjs-cpu']).padEnd(13)} tfjs-wasm ${f(res['tfjs-wasm']).padEnd(13)} cpu/wasm ${ratio(res.cpu, res['tfjs-wasm']).padEnd(15)} cpu/tfjs-cpu ${ratio(res.cpu, res['tfjs-cpu'])}`);
}

console.log('\nGFLOP/s, best of reps (median in parentheses); shape is M x K x N\n');
console.log('| shape (MxKxN) | cpu | tfjs-cpu | tfjs-wasm | cpu / tfjs-wasm | cpu / tfjs-cpu |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const g = (x) => (x ? `${x.best.toFixed(1)} (${x.median.toFixed(1)})` : 'skipped');
  const q = (x, y) => (x && y ? `${(x.best / y.best).toFixed(2)} (${(x.median / y.median).toFixed(2)})` : '-');
  console.log(`| ${r.shape} | ${g(r.cpu)} | ${g(r['tfjs-cpu'])} | ${g(r['tfjs-wasm'])} | ${q(r.cpu, r['tfjs-wasm'])} | ${q(r.cpu, r['tfjs-cpu'])} |`);
}
