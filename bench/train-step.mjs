// One K2 training step (forward, backward, MuonClip update) on every available Karakoram backend,
// against an independent PyTorch float32 implementation of the same model and step
// (bench/torch/train_step.py), in the same invocation. Runs on the built packages (README.md).
//
//   node bench/train-step.mjs                       cpu, tfjs-node-gpu, webgpu + PyTorch
//   BENCH_BACKENDS=webgpu BENCH_TORCH=0 BENCH_BATCH=2 BENCH_SEQ=64 node bench/train-step.mjs
//                                                   webgpu alone, small (SwiftShader is a CPU: ~30 s a step)
//   BENCH_BACKENDS=cpu BENCH_TORCH=0 node bench/train-step.mjs
//   BENCH_WARMUP=2 BENCH_STEPS=5 BENCH_BATCH=8 BENCH_SEQ=256 node bench/train-step.mjs
//   BENCH_PROFILE=/tmp/step.cpuprofile ...   V8 CPU profile of the timed steps only (main thread)
//   BENCH_MAX_STEP_S=60                       a backend slower than this per step gets one step only
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { noGrad, ops, setBackend, tidy, valueAndGrads } from '@karakoram/core';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { MuonClip } from '@karakoram/optim-muonclip';

const here = path.dirname(fileURLToPath(import.meta.url));
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const STEPS = Number(process.env.BENCH_STEPS ?? 5);
const BATCH = Number(process.env.BENCH_BATCH ?? 8);
const SEQ = Number(process.env.BENCH_SEQ ?? 256);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const WANT = (process.env.BENCH_BACKENDS ?? 'cpu,tfjs-node-gpu,webgpu').split(',').filter(Boolean);
const RUN_TORCH = process.env.BENCH_TORCH !== '0';
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
/** A backend whose step takes longer than this (e.g. webgpu on SwiftShader, a CPU emulating a GPU) stops early. */
const MAX_STEP_MS = Number(process.env.BENCH_MAX_STEP_S ?? 60) * 1000;

// The issue's config, spelled out so a change to the `small` preset cannot move the benchmark.
// aux_loss_alpha 0: the issue's step is cross-entropy only (the PyTorch side has no balance loss).
const CONFIG = {
  vocab_size: 4096, hidden_size: 256, num_hidden_layers: 4, first_k_dense_replace: 1, intermediate_size: 768,
  n_routed_experts: 16, moe_intermediate_size: 128, num_experts_per_tok: 2, n_shared_experts: 1,
  scoring_func: 'sigmoid', topk_method: 'noaux_tc', n_group: 1, topk_group: 1, norm_topk_prob: true, routed_scaling_factor: 2.5,
  num_attention_heads: 4, q_lora_rank: 128, kv_lora_rank: 64, qk_nope_head_dim: 32, qk_rope_head_dim: 16, v_head_dim: 32,
  rope_theta: 10000, rope_scaling: null, rms_norm_eps: 1e-6, aux_loss_alpha: 0, max_position_embeddings: Math.max(1024, SEQ),
};
const OPT = { lr: 0.02, weightDecay: 0.1, tau: 100 };

/** The Karakoram backends this bench knows; each loader returns a Backend or throws why not. */
const LOADERS = {
  cpu: async () => (await import('@karakoram/backend-cpu')).createCpuBackend({ threads: THREADS }),
  'tfjs-node-gpu': async () => fromPackage('@karakoram/backend-tfjs-node-gpu'),
  webgpu: async () => fromPackage('@karakoram/backend-webgpu'),
};

async function fromPackage(name) {
  const m = await import(name);
  const make = m.createBackend ?? m.default ?? Object.entries(m).find(([k, v]) => /^create.*Backend$/.test(k) && typeof v === 'function')?.[1];
  if (typeof make !== 'function') throw new Error(`${name} exports no create*Backend function`);
  return await make();
}

/** Deterministic token ids (xorshift), the same stream for every backend. */
function tokens(n, seed) {
  const out = new Int32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = (s >>> 0) % CONFIG.vocab_size;
  }
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function benchBackend(backend) {
  setBackend(backend);
  const config = preset('small', CONFIG);
  const model = new DeepseekV3ForCausalLM(config, { seed: 1 });
  const params = model.namedParameters().filter((p) => p.trainable).map((p) => p.tensor);
  const opt = new MuonClip(model, OPT);
  const ids = tokens(BATCH * (SEQ + 1), 7);
  const inputsArr = new Int32Array(BATCH * SEQ);
  const targetsArr = new Int32Array(BATCH * SEQ);
  for (let b = 0; b < BATCH; b++) {
    inputsArr.set(ids.subarray(b * (SEQ + 1), b * (SEQ + 1) + SEQ), b * SEQ);
    targetsArr.set(ids.subarray(b * (SEQ + 1) + 1, (b + 1) * (SEQ + 1)), b * SEQ);
  }
  const inputs = ops.tensor(inputsArr, [BATCH, SEQ], 'i32');
  const targets = ops.tensor(targetsArr, [BATCH, SEQ], 'i32');
  const sync = async () => { if (backend.sync) await backend.sync(); };

  const rows = [];
  let session;
  for (let i = 0; i < WARMUP + STEPS; i++) {
    if (i === WARMUP && process.env.BENCH_PROFILE) {
      // Profiles the timed steps only: warm-up (compilation, first allocations) stays out.
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    let tFwd = 0;
    const t0 = performance.now();
    // valueAndGrads runs fn (the forward) and then the backward pass synchronously, so the time
    // inside fn is the forward and the rest is the backward. On asynchronous backends the queued
    // work of the forward may finish inside the backward; the total stays exact (the loss read).
    const { value: loss, grads } = valueAndGrads(() => {
      const f0 = performance.now();
      const l = model.loss(inputs, targets, undefined, { recordMaxLogits: true });
      tFwd = performance.now() - f0;
      return l;
    }, params);
    const lossValue = (await loss.data())[0];
    const t1 = performance.now();
    // MuonClip reads the step's max logits: synchronously where the backend can, else awaited.
    if (backend.readSync) tidy(() => noGrad(() => opt.step(grads, OPT.lr)));
    else await opt.stepAsync(grads, OPT.lr);
    await sync();
    const t2 = performance.now();
    loss.dispose();
    grads.forEach((g) => g.dispose());
    const row = { forward: tFwd, backward: t1 - t0 - tFwd, optimizer: t2 - t1, total: t2 - t0, loss: lossValue };
    if (i >= WARMUP) rows.push(row);
    process.stdout.write(`  ${i < WARMUP ? 'warm-up' : 'step   '} ${String(i + 1).padStart(2)}: ${row.total.toFixed(0).padStart(6)} ms  loss ${lossValue.toFixed(4)}\n`);
    if (row.total > MAX_STEP_MS) {
      // Too slow to time properly: report this step (warm-up or not) and move on.
      if (rows.length === 0) rows.push(row);
      process.stdout.write(`  (a step took over ${MAX_STEP_MS / 1000} s: stopping here; BENCH_MAX_STEP_S raises the limit)\n`);
      break;
    }
  }
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(process.env.BENCH_PROFILE, JSON.stringify(profile));
    session.disconnect();
  }
  inputs.dispose();
  targets.dispose();
  opt.dispose?.();
  model.dispose?.();
  const best = rows.reduce((a, b) => (b.total < a.total ? b : a));
  const med = median(rows.map((r) => r.total));
  const phase = (k) => median(rows.map((r) => r[k]));
  return {
    tokensPerSecond: (BATCH * SEQ) / (best.total / 1000),
    medianTokensPerSecond: (BATCH * SEQ) / (med / 1000),
    forward: phase('forward'), backward: phase('backward'), optimizer: phase('optimizer'), total: med,
  };
}

function runTorch() {
  const script = path.join(here, 'torch', 'train_step.py');
  if (!existsSync(PYTHON)) return { error: `${PYTHON} not found` };
  const r = spawnSync(PYTHON, [script, '--json', '--warmup', String(WARMUP), '--steps', String(STEPS), '--batch', String(BATCH), '--seq', String(SEQ), '--threads', String(THREADS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) return { error: `train_step.py exited with ${r.status}${r.error ? `: ${r.error.message}` : ''}` };
  const lines = r.stdout.trim().split('\n');
  for (const l of lines.slice(0, -1)) process.stdout.write(`  ${l}\n`);
  return JSON.parse(lines[lines.length - 1]);
}

const fmt = (x) => x.toFixed(0).padStart(8);
console.log(`K2 training step: vocab ${CONFIG.vocab_size}, hidden ${CONFIG.hidden_size}, ${CONFIG.num_hidden_layers} layers, ${CONFIG.n_routed_experts} experts top-${CONFIG.num_experts_per_tok}, batch ${BATCH} x ${SEQ} tokens; ${WARMUP} warm-up + ${STEPS} timed steps`);
const results = [];
for (const name of WANT) {
  const loader = LOADERS[name];
  if (!loader) { console.log(`${name}: unknown backend (known: ${Object.keys(LOADERS).join(', ')})`); continue; }
  let backend;
  try {
    backend = await loader();
  } catch (e) {
    console.log(`${name}: not available (${String(e?.message ?? e).split('\n')[0]})`);
    continue;
  }
  console.log(`${name}: ${backend.describe()}`);
  results.push({ name, ...(await benchBackend(backend)) });
}
let torch;
if (RUN_TORCH) {
  console.log('pytorch:');
  torch = runTorch();
  if (torch.error) console.log(`pytorch: not available (${torch.error})`);
  else results.push({ name: `pytorch ${torch.version} (${torch.blas}, ${torch.threads} threads)`, ...torch });
}
console.log('\nbackend'.padEnd(50) + 'tokens/s (best)  median   fwd ms   bwd ms   opt ms  step ms');
for (const r of results) {
  console.log(`${r.name.padEnd(49)}${fmt(r.tokensPerSecond)}        ${fmt(r.medianTokensPerSecond)} ${fmt(r.forward)} ${fmt(r.backward)} ${fmt(r.optimizer)} ${fmt(r.total)}`);
}
if (torch && !torch.error) {
  for (const r of results.slice(0, -1)) {
    console.log(`${r.name} / pytorch: ${(r.tokensPerSecond / torch.tokensPerSecond).toFixed(2)} (best), ${(r.medianTokensPerSecond / torch.medianTokensPerSecond).toFixed(2)} (median)`);
  }
}
// The cpu backend's worker threads would keep Node alive.
process.exit(0);
