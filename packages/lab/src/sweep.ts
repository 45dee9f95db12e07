import { createRuntime } from '@karakoram/core';
import { DeepseekV3ForCausalLM, countParameters, inferenceCost, preset, type InferenceCost, type ModelConfig } from '@karakoram/model';
import { MuonClip } from '@karakoram/optim-muonclip';
import { TokenBatcher, Trainer, validationLoss } from '@karakoram/train';
import type { LabConfig } from './config.js';
import { loadLabData, type HeldOutCheck } from './corpus.js';
import { trainingFlops, type TrainingFlops } from './flops.js';
import { spread, type Spread } from './stats.js';

/**
 * The lab's base shape on top of the 'small' preset: byte vocabulary, every layer MoE (so
 * sparsity acts on all of them), heads = layers as in K2 (64 heads, 61 layers). Sized so one
 * run takes about a minute on two CPU cores.
 */
export const LAB_BASE = {
  vocab_size: 261, num_hidden_layers: 2, hidden_size: 64, intermediate_size: 192, moe_intermediate_size: 32,
  first_k_dense_replace: 0, n_shared_experts: 1, q_lora_rank: 32, kv_lora_rank: 16,
  qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 16, max_position_embeddings: 1024,
} as const;

/** One model of the sweep: its sparsity, head factor and config. */
export interface Point {
  key: string;
  /** Which studies report this point (the head study's factor-1 point is a sparsity point). */
  studies: ('sparsity' | 'heads')[];
  sparsity: number;
  headsFactor: number;
  config: ModelConfig;
}

/** One training run of a point (one seed): evaluations and the final held-out loss. */
export interface RunRecord {
  seed: number;
  /** Held-out loss after `step` steps, with the training FLOPs spent by then. */
  evals: { step: number; flops: number; loss: number }[];
  validationLoss: number;
  finalTrainLoss: number;
  peakMaxLogit: number;
  seconds: number;
}

/** A point with its parameter counts, FLOPs, inference cost and losses over seeds. */
export interface PointResult extends Point {
  params: { total: number; activated: number; attention: number };
  trainFlops: TrainingFlops;
  inference: InferenceCost;
  loss: Spread;
  /** Mean held-out loss over seeds at each evaluation: x = training FLOPs. */
  curve: [number, number][];
  runs: RunRecord[];
}

/** The whole sweep: config, corpus check, points and timing. */
export interface LabResult {
  config: LabConfig;
  source: string;
  check: HeldOutCheck;
  tokensPerRun: number;
  trainTokens: number;
  backend: string;
  points: PointResult[];
  seconds: number;
}

/** The distinct shapes both studies need; a shape both use is trained once. */
export function labPoints(cfg: LabConfig): Point[] {
  const base = preset('small', { ...LAB_BASE, ...cfg.model } as never);
  const L = base.num_hidden_layers;
  const active = cfg.sparsity?.active ?? base.num_experts_per_tok ?? 2;
  const points = new Map<string, Point>();
  const add = (study: 'sparsity' | 'heads', m: number, f: number): void => {
    const key = `sparsity-${m}-heads-${f}x`;
    const prev = points.get(key);
    if (prev) {
      if (!prev.studies.includes(study)) prev.studies.push(study);
      return;
    }
    const config = preset('small', {
      ...LAB_BASE, ...cfg.model,
      n_routed_experts: m * active, num_experts_per_tok: active, n_group: 1, topk_group: 1,
      num_attention_heads: Math.max(1, Math.round(f * L)),
    } as never);
    points.set(key, { key, studies: [study], sparsity: m, headsFactor: f, config });
  };
  for (const m of cfg.sparsity?.multiples ?? []) add('sparsity', m, 1);
  for (const f of cfg.heads?.factors ?? []) add('heads', cfg.heads!.atMultiple, f);
  return [...points.values()];
}

async function trainOne(p: Point, seed: number, data: { train: Int32Array; heldOut: Int32Array }, t: LabConfig['train'], progress: boolean): Promise<RunRecord> {
  const model = new DeepseekV3ForCausalLM(p.config, { seed });
  const optimizer = new MuonClip(model, { lr: t.lr, weightDecay: t.weightDecay, tau: t.tau, clip: true });
  const moe = model.moeLayers();
  const evalAt = new Set(Array.from({ length: t.evals }, (_, i) => Math.round((t.steps * (i + 1)) / t.evals)));
  const evals: RunRecord['evals'] = [];
  let finalTrainLoss = NaN;
  let peakMaxLogit = -Infinity;
  const t0 = performance.now();
  const trainer = new Trainer({
    model, optimizer,
    // The batcher's seed is the run's seed: every point of one seed sees the same batches.
    data: new TokenBatcher(data.train, t.seqLen, t.batchSize, seed),
    schedule: { kind: 'constant', lr: t.lr, warmupSteps: t.warmupSteps },
    steps: t.steps, clipNorm: 1, recordMaxLogits: true, label: `${p.key} seed ${seed}`, progress,
    hooks: {
      beforeStep: () => moe.forEach((m) => m.resetLoad()),
      afterUpdate: () => moe.forEach((m) => m.updateBias(0.001)),
    },
  });
  await trainer.run(async (r) => {
    finalTrainLoss = r.loss;
    if (typeof r.extra.maxLogit === 'number') peakMaxLogit = Math.max(peakMaxLogit, r.extra.maxLogit);
    if (evalAt.has(r.step)) {
      const loss = (await validationLoss(model, data.heldOut, t.seqLen, t.batchSize, Infinity))!;
      evals.push({ step: r.step, flops: trainingFlops(p.config, r.step * t.batchSize * t.seqLen, t.seqLen).total, loss });
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  model.dispose();
  optimizer.dispose();
  return { seed, evals, validationLoss: evals[evals.length - 1]!.loss, finalTrainLoss, peakMaxLogit, seconds };
}

/** Trains every point once per seed on the same tokens and measures it on the same held-out text. */
export async function runLab(cfg: LabConfig, opts: { log?: (s: string) => void; progress?: boolean } = {}): Promise<LabResult> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const t0 = performance.now();
  const runtime = await createRuntime({ backend: cfg.backend, seed: cfg.seeds[0] });
  const data = await loadLabData(cfg);
  const points = labPoints(cfg);
  const t = cfg.train;
  const tokensPerRun = t.steps * t.batchSize * t.seqLen;
  log(`backend: ${runtime.backend.describe()}`);
  log(`corpus: ${data.source}; ${data.train.length} training tokens, ${data.check.heldOutTokens} held out (sha256 ${data.check.heldOutSha256.slice(0, 16)}..., ${data.check.overlap} shared windows)`);
  log(`${points.length} shapes x ${cfg.seeds.length} seeds, ${tokensPerRun} tokens per run`);
  const results: PointResult[] = [];
  let done = 0;
  for (const p of points) {
    const runs: RunRecord[] = [];
    for (const seed of cfg.seeds) {
      const r = await trainOne(p, seed, data, t, opts.progress ?? false);
      runs.push(r);
      done++;
      log(`[${done}/${points.length * cfg.seeds.length}] ${p.key} seed ${seed}: held-out loss ${r.validationLoss.toFixed(4)} (train ${r.finalTrainLoss.toFixed(4)}), ${r.seconds.toFixed(0)} s`);
    }
    const c = countParameters(p.config);
    const curve = runs[0]!.evals.map((e, i): [number, number] => [e.flops, runs.reduce((a, r) => a + r.evals[i]!.loss, 0) / runs.length]);
    results.push({
      ...p, runs, curve,
      params: { total: c.total, activated: c.activated, attention: c.breakdown.attention },
      trainFlops: trainingFlops(p.config, tokensPerRun, t.seqLen),
      inference: inferenceCost(p.config, cfg.context),
      loss: spread(runs.map((r) => r.validationLoss)),
    });
  }
  return { config: cfg, source: data.source, check: data.check, tokensPerRun, trainTokens: data.train.length, backend: runtime.backend.describe(), points: results, seconds: (performance.now() - t0) / 1000 };
}
