/**
 * Runs an RL config end to end: the policy, its environment, colocated engines (or rollout
 * workers), held-out evaluation before and after, per-iteration metrics (JSONL) and the reward
 * curve (SVG/PNG + table).
 */
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createRuntime, setBackend, type Backend } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { ByteTokenizer, DeepseekV3ForCausalLM, preset, parseModelConfig, type Tokenizer } from '@karakoram/model';
import { loadCheckpointDir } from '@karakoram/model/node';
import { MuonClip } from '@karakoram/optim-muonclip';
import { TokenBatcher } from '@karakoram/train';
import type { RlConfig } from './config.js';
import { RLController, type IterationReport } from './controller.js';
import { drawRewardCurves, type RewardRun } from './curves.js';
import { ArithmeticEnv } from './envs/arithmetic.js';
import { CalculatorEnv } from './envs/calculator.js';
import { ReverseEnv } from './envs/reverse.js';
import type { EnvFactory, Split } from './envs/types.js';
import { evaluate } from './evaluate.js';
import { InferenceEngine } from './inference-engine.js';
import { TrainingEngine } from './training-engine.js';
import { BucketedWeightSync, SharedWeightSync, modelSink, type WeightSync } from './weight-sync.js';
import { WorkerPool } from './worker-pool.js';

/** The environment factory the config names, for `split`. */
export function envFactory(cfg: RlConfig['env'], split: Split): EnvFactory {
  const o = cfg.options as Record<string, never>;
  if (cfg.name === 'arithmetic') return () => new ArithmeticEnv({ ...o, split });
  if (cfg.name === 'reverse') return () => new ReverseEnv(o);
  return () => new CalculatorEnv(o);
}

/** The outcome of an RL run: per-iteration reports and held-out rewards before and after. */
export interface RlRunResult {
  history: IterationReport[];
  /** Held-out reward, greedy. */
  heldOutBefore: number;
  heldOutAfter: number;
  /** Held-out reward sampled at temperature 1 (one sample per prompt). */
  heldOutSampledBefore: number;
  heldOutSampledAfter: number;
  run: RewardRun;
  metrics: string;
  model: DeepseekV3ForCausalLM;
}

async function loadPolicy(cfg: RlConfig): Promise<DeepseekV3ForCausalLM> {
  if ('preset' in cfg.model) return new DeepseekV3ForCausalLM(preset(cfg.model.preset, cfg.model.overrides as never), { seed: cfg.seed });
  if ('config' in cfg.model) return new DeepseekV3ForCausalLM(parseModelConfig(cfg.model.config, 'rl config: model.config'), { seed: cfg.seed });
  const { config, tensors } = await loadCheckpointDir(cfg.model.checkpoint);
  const model = new DeepseekV3ForCausalLM(config, { seed: cfg.seed });
  try {
    model.loadStateDict(tensors, cfg.model.checkpoint);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return model;
}

/** `model` (optional) is used as the starting policy instead of cfg.model (the app pre-trains its own). */
export async function runRL(cfg: RlConfig, opts: { model?: DeepseekV3ForCausalLM; log?: (s: string) => void; name?: string } = {}): Promise<RlRunResult> {
  const log = opts.log ?? ((s: string) => process.stdout.write(`${s}\n`));
  registerCpu();
  // A given model keeps its backend (made the default); otherwise the config's backend.
  const backend: Backend = opts.model ? opts.model.lm_head.weight.backend : (await createRuntime({ backend: cfg.backend, seed: cfg.seed })).backend;
  setBackend(backend);
  await mkdir(cfg.out, { recursive: true });
  const tokenizer: Tokenizer = new ByteTokenizer();
  const model = opts.model ?? (await loadPolicy(cfg));
  const stopTokens = [...tokenizer.encode('\n'), tokenizer.eosId!];
  const engineOpts = { seed: cfg.seed, stopTokens };
  let rollout: InferenceEngine | WorkerPool;
  let sync: WeightSync;
  let evalEngine: InferenceEngine;
  if (cfg.workers > 0) {
    const pool = new WorkerPool({ size: cfg.workers, config: model.config, engine: engineOpts });
    await pool.start();
    rollout = pool;
    sync = new BucketedWeightSync(model, pool, cfg.sync.bucketBytes);
    evalEngine = new InferenceEngine(model, engineOpts);
  } else if (cfg.sync.mode === 'bucketed') {
    // A separate inference instance: the checkpoint engine copies weights into it.
    const inference = new DeepseekV3ForCausalLM(model.config, { seed: cfg.seed + 1 });
    rollout = evalEngine = new InferenceEngine(inference, engineOpts);
    sync = new BucketedWeightSync(model, modelSink(inference), cfg.sync.bucketBytes);
  } else {
    rollout = evalEngine = new InferenceEngine(model, engineOpts);
    sync = new SharedWeightSync(model, model);
  }
  const first = await sync.sync();
  log(`policy: ${(first.modelBytes / 1048576).toFixed(2)} MB of weights; sync mode ${first.mode}${cfg.workers ? ` to ${cfg.workers} worker threads` : ''} (${first.seconds.toFixed(3)} s)`);
  const ptx = cfg.ptx ? { batcher: new TokenBatcher(Int32Array.from(tokenizer.encode(await readFile(cfg.ptx.text, 'utf8'))), cfg.ptx.seqLen, cfg.ptx.batchSize, cfg.seed), weight: cfg.ptx.weight } : undefined;
  const optimizer = new MuonClip(model, { lr: cfg.optimizer.lr, weightDecay: cfg.optimizer.weightDecay, tau: cfg.optimizer.qkClipTau });
  const trainer = new TrainingEngine(model, { objective: cfg.objective, lr: cfg.optimizer.lr, optimizer, clipNorm: cfg.clipNorm, ptx });
  const heldOut = envFactory(cfg.env, 'heldout');
  const evalNow = async (temperature = 0): Promise<number> => (await evaluate(evalEngine, heldOut, tokenizer, { prompts: cfg.eval.prompts, seed: 1, temperature })).reward;
  const name = opts.name ?? `seed ${cfg.seed}`;
  const run: RewardRun = { name, train: [], heldOut: [] };
  const before = await evalNow();
  const sampledBefore = await evalNow(1);
  run.heldOut.push({ iteration: 0, reward: before });
  log(`held-out reward before RL (${cfg.eval.prompts} prompts): greedy ${before.toFixed(3)}, sampled at T=1 ${sampledBefore.toFixed(3)}`);
  const metrics = join(cfg.out, 'metrics.jsonl');
  const controller = new RLController({
    env: envFactory(cfg.env, 'train'), tokenizer, rollout, trainer, sync, backend, seed: cfg.seed,
    promptsPerIteration: cfg.promptsPerIteration, samplesPerPrompt: cfg.samplesPerPrompt, temperature: cfg.temperature, topP: cfg.topP,
    maxTokensThisIteration: cfg.maxTokensThisIteration, lengthPenalty: cfg.lengthPenalty, stepsPerIteration: cfg.stepsPerIteration, metricsPath: metrics, log,
  });
  const history: IterationReport[] = [];
  try {
    for (let i = 0; i < cfg.iterations; i++) {
      const r = await controller.iterate();
      history.push(r);
      run.train.push({ iteration: i + 1, reward: r.reward });
      if (cfg.eval.every > 0 && (i + 1) % cfg.eval.every === 0 && i + 1 < cfg.iterations) run.heldOut.push({ iteration: i + 1, reward: await evalNow() });
    }
  } finally {
    if (rollout instanceof WorkerPool) await rollout.close();
  }
  const after = await evalNow();
  const sampledAfter = await evalNow(1);
  run.heldOut.push({ iteration: cfg.iterations, reward: after });
  log(`held-out reward after RL: greedy ${after.toFixed(3)} (before ${before.toFixed(3)}), sampled at T=1 ${sampledAfter.toFixed(3)} (before ${sampledBefore.toFixed(3)})`);
  return { history, heldOutBefore: before, heldOutAfter: after, heldOutSampledBefore: sampledBefore, heldOutSampledAfter: sampledAfter, run, metrics, model };
}


