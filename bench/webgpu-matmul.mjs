// f32 matmul throughput on WebGPU: Karakoram's webgpu backend against @tensorflow/tfjs-backend-webgpu
// 4.22.0, in one process, on the same adapter and the same inputs. Runs on the built packages.
//
//   node bench/webgpu-matmul.mjs                 256, 512, 1024
//   BENCH_SHAPES=1024,512x256x128 node bench/webgpu-matmul.mjs
//   BENCH_VARIANTS=1 node bench/webgpu-matmul.mjs   also time every Karakoram matmul variant
//
// Every timed call includes reading the result back (await), for both sides.
import os from 'node:os';
import fs from 'node:fs';

const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && fs.existsSync(ICD)) process.env.VK_ICD_FILENAMES = ICD;

const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
let gpu = create([]);
// tfjs-backend-webgpu looks for navigator.gpu; some libraries read navigator.userAgent once they see navigator.
globalThis.navigator = { gpu, userAgent: 'node' };

const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-webgpu');
const { createWebGpuBackend } = await import('@karakoram/backend-webgpu');

const SHAPES = (process.env.BENCH_SHAPES ?? '256,512,1024').split(',').map((s) => {
  const d = s.split('x').map(Number);
  return d.length === 1 ? [d[0], d[0], d[0]] : d; // M x K x N
});
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 4000);
const MAX_REPS = Number(process.env.BENCH_REPS ?? 5);
const ALL_VARIANTS = !!process.env.BENCH_VARIANTS;

function rand(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

const adapter = await gpu.requestAdapter();
const ours = await createWebGpuBackend({ adapter });
const info = ours.adapterInfo();
if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs-backend-webgpu did not initialize');
await tf.ready();

console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism?.() ?? os.cpus().length} cpus`);
console.log(`adapter: vendor "${info.vendor}", architecture "${info.architecture}", device "${info.device}", description "${info.description}"${info.software ? ' (software)' : ''}`);
console.log(`karakoram: ${ours.describe()}`);
console.log(`tfjs ${tf.version_core}: backend ${tf.getBackend()}`);
console.log('');

function oursRunner(variant) {
  return async (m, k, n, A, B) => {
    const a = { storage: ours.upload(A, 'f32'), shape: [1, m, k], dtype: 'f32' };
    const b = { storage: ours.upload(B, 'f32'), shape: [1, k, n], dtype: 'f32' };
    return {
      async run() {
        if (variant) {
          const buf = ours.scratch(m * n * 4);
          ours.matmulInto(variant, { batch: 1, m, n, k, transA: false, transB: false, aBatch: 0, bBatch: 0 }, a.storage.buffer, b.storage.buffer, buf);
          await ours.read({ storage: { buffer: buf, backend: 'webgpu' }, shape: [1, m, n], dtype: 'f32' });
          ours.releaseScratch(buf);
          return;
        }
        const c = ours.matmul(a, b, false, false);
        await ours.read({ storage: c, shape: [1, m, n], dtype: 'f32' });
        ours.dispose(c);
      },
      dispose() { ours.dispose(a.storage); ours.dispose(b.storage); },
    };
  };
}

async function tfjsRunner(m, k, n, A, B) {
  const a = tf.tensor2d(A, [m, k]);
  const b = tf.tensor2d(B, [k, n]);
  return {
    async run() {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    },
    dispose() { a.dispose(); b.dispose(); },
  };
}

const runners = { karakoram: oursRunner(undefined) };
if (ALL_VARIANTS) for (const v of ['rb16', 'rb4', 'rb', 'tiled']) runners[`karakoram-${v}`] = oursRunner(v);
runners['tfjs-webgpu'] = tfjsRunner;

const rows = [];
for (const [m, k, n] of SHAPES) {
  const gflop = (2 * m * k * n) / 1e9;
  const A = rand(m * k, 1);
  const B = rand(k * n, 2);
  const res = {};
  for (const [name, setup] of Object.entries(runners)) {
    // Variants only run on shapes they apply to (the backend's own choice steps down the same way).
    if (name === 'karakoram-rb4' && (m % 4 || n % 4 || k % 4)) continue;
    if (name === 'karakoram-rb16' && (m % 16 || n % 8 || k % 4)) continue;
    const r = await setup(m, k, n, A, B);
    await r.run(); // warm-up: compiles the pipeline
    const times = [];
    const t0 = performance.now();
    while (times.length < MAX_REPS && (times.length === 0 || performance.now() - t0 < BUDGET_MS)) {
      const s = performance.now();
      await r.run();
      times.push(performance.now() - s);
    }
    r.dispose();
    const best = Math.min(...times);
    const med = [...times].sort((x, y) => x - y)[Math.floor(times.length / 2)];
    res[name] = { best: gflop / (best / 1000), median: gflop / (med / 1000), reps: times.length };
  }
  rows.push({ shape: `${m}x${k}x${n}`, res });
  const f = (x) => (x ? `${x.best.toFixed(2)} (${x.median.toFixed(2)})` : '-');
  console.log(`${`${m}x${k}x${n}`.padEnd(16)} ${Object.entries(res).map(([k2, v]) => `${k2} ${f(v)}`).join('  ')}  ratio ${(res.karakoram.best / res['tfjs-webgpu'].best).toFixed(2)}x`);
}

const names = Object.keys(runners);
console.log(`\nGFLOP/s, best of reps (median in parentheses); shape is M x K x N; karakoram's matmul variant: ${ours.tuner.summary()}\n`);
console.log(`| shape (MxKxN) | ${names.join(' | ')} | karakoram / tfjs-webgpu |`);
console.log(`|---|${names.map(() => '---').join('|')}|---|`);
for (const r of rows) {
  const g = (x) => (x ? `${x.best.toFixed(2)} (${x.median.toFixed(2)})` : '-');
  const q = `${(r.res.karakoram.best / r.res['tfjs-webgpu'].best).toFixed(2)} (${(r.res.karakoram.median / r.res['tfjs-webgpu'].median).toFixed(2)})`;
  console.log(`| ${r.shape} | ${names.map((nm) => g(r.res[nm])).join(' | ')} | ${q} |`);
}

await ours.destroy();
tf.engine().reset();
delete globalThis.navigator;
gpu = undefined;
