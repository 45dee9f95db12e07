import {
  KarakoramError, noGrad, ops, tidy, valueAndGrads,
  type NamedParameter, type Tensor,
} from '@karakoram/core';
import type { TokenBatcher } from './data.js';
import { JsonlWriter } from './metrics.js';
import { ProgressBar } from './progress.js';
import { lrAt, type ScheduleSpec } from './schedule.js';

/** What the trainer needs of a model. DeepseekV3ForCausalLM satisfies it. */
export interface TrainableModel {
  /** Every parameter with its state-dict name; the trainer optimizes the trainable ones, in this order. */
  namedParameters(): NamedParameter[];
  /** Mean next-token cross-entropy of targets given inputs, both i32 [B, T]. */
  loss(inputs: Tensor, targets: Tensor, mask?: Tensor, opts?: { recordMaxLogits?: boolean }): Tensor;
}

/** What the trainer needs of an optimizer: Muon, MuonClip and AdamW-only all fit. */
export interface TrainOptimizer {
  /** Applies one update from `grads` (in parameter order) at learning rate `lr`; an object it returns is merged into the step's metrics. */
  step(grads: readonly Tensor[], lr: number): unknown;
  /**
   * The same update where it needs an asynchronous read first (MuonClip reads the step's max
   * logits): used when present, as backends like webgpu have no synchronous read.
   */
  stepAsync?(grads: readonly Tensor[], lr: number): Promise<unknown>;
  /** The optimizer's state tensors by name, for checkpoints. */
  stateDict(): Map<string, Tensor>;
  /** Restores state saved by stateDict() (on resume). */
  loadStateDict(state: Map<string, Tensor>): void;
}

/** Callbacks around each training step (e.g. MoE router-bias updates). */
export interface StepHooks {
  /** Before the step's first forward pass. */
  beforeStep?(step: number): void;
  /** After the optimizer update (MoE bias updates happen here). Returns extra metrics. */
  afterUpdate?(step: number): Record<string, unknown> | void;
}

/** Everything a Trainer runs with: model, optimizer, data, schedule and loop settings. */
export interface TrainerOptions {
  model: TrainableModel;
  optimizer: TrainOptimizer;
  data: TokenBatcher;
  schedule: ScheduleSpec;
  steps: number;
  gradAccum?: number;
  /** Clip the global gradient norm to this value (0 or undefined: no clipping). */
  clipNorm?: number;
  /** What to do when the loss or a gradient is NaN/Inf. */
  onNonFinite?: 'stop' | 'skip';
  metricsPath?: string;
  /** Record per-head max attention logits (MuonClip needs them). */
  recordMaxLogits?: boolean;
  hooks?: StepHooks;
  label?: string;
  progress?: boolean;
}

/** Metrics of one optimizer step (`step` is 1-based; gradNorm is before clipping). */
export interface StepResult {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  skipped: boolean;
  tokens: number;
  seconds: number;
  extra: Record<string, unknown>;
}

/** Thrown when the loss or gradient norm is NaN/Inf and onNonFinite is 'stop'; the update is not applied. */
export class NonFiniteError extends KarakoramError {
  constructor(step: number, what: string) {
    super('non-finite', `${what} at step ${step}; the run stopped before applying it (set onNonFinite: "skip" to skip such steps, or lower the learning rate)`, 'trainer');
    this.name = 'NonFiniteError';
  }
}

/**
 * The training loop: gradient accumulation, global-norm clipping, NaN/Inf detection, one
 * optimizer step per batch with the scheduled lr, hooks, JSONL metrics and a progress bar.
 * Checkpointing and resume live in checkpoint.ts and call `state()`/`restore()`.
 */
export class Trainer {
  step = 0;
  readonly params: Tensor[];
  readonly paramNames: string[];
  private readonly metrics: JsonlWriter | undefined;

  constructor(readonly opts: TrainerOptions) {
    const trainable = opts.model.namedParameters().filter((p) => p.trainable);
    this.params = trainable.map((p) => p.tensor);
    this.paramNames = trainable.map((p) => p.name);
    this.metrics = opts.metricsPath ? new JsonlWriter(opts.metricsPath) : undefined;
  }

  /** One optimizer step (gradAccum micro-batches). */
  async trainStep(): Promise<StepResult> {
    const t0 = performance.now();
    const accum = this.opts.gradAccum ?? 1;
    const lr = lrAt(this.opts.schedule, this.step);
    this.opts.hooks?.beforeStep?.(this.step);
    const { model, data } = this.opts;
    let lossSum = 0;
    let grads: Tensor[] | undefined;
    for (let micro = 0; micro < accum; micro++) {
      const r = tidy(() => {
        const { inputs, targets } = data.next(this.params[0]!.backend);
        const out = valueAndGrads(() => model.loss(inputs, targets, undefined, { recordMaxLogits: this.opts.recordMaxLogits ?? false }), this.params);
        const scaled = accum === 1 ? out.grads : out.grads.map((g) => ops.div(g, accum));
        const summed = grads ? scaled.map((g, i) => ops.add(grads![i]!, g)) : scaled;
        return { loss: out.value, grads: summed };
      });
      grads?.forEach((g) => g.dispose());
      grads = r.grads;
      lossSum += ((await r.loss.data())[0] ?? NaN) / accum;
      r.loss.dispose();
    }
    const g = grads!;
    const gradNorm = await this.globalNorm(g);
    let skipped = false;
    let extra: Record<string, unknown> = {};
    if (!Number.isFinite(lossSum) || !Number.isFinite(gradNorm)) {
      const what = !Number.isFinite(lossSum) ? `the loss is ${lossSum}` : `the gradient norm is ${gradNorm} (first bad parameter: ${await this.firstNonFinite(g)})`;
      if ((this.opts.onNonFinite ?? 'stop') === 'stop') {
        g.forEach((t) => t.dispose());
        throw new NonFiniteError(this.step, what);
      }
      skipped = true;
      extra.skippedReason = what;
    } else {
      const clip = this.opts.clipNorm ?? 0;
      const scale = clip > 0 && gradNorm > clip ? clip / gradNorm : 1;
      const opt = this.opts.optimizer;
      const gs = scale === 1 ? g : noGrad(() => g.map((x) => ops.mul(x, scale)));
      try {
        const log = opt.stepAsync ? await opt.stepAsync(gs, lr) : tidy(() => noGrad(() => opt.step(gs, lr)));
        if (log && typeof log === 'object') extra = { ...extra, ...(log as Record<string, unknown>) };
      } finally {
        if (gs !== g) gs.forEach((t) => t.dispose());
      }
      const more = this.opts.hooks?.afterUpdate?.(this.step);
      if (more) extra = { ...extra, ...more };
    }
    g.forEach((t) => t.dispose());
    const tokens = accum * data.batchSize * data.seqLen;
    const res: StepResult = { step: this.step + 1, loss: lossSum, lr, gradNorm, skipped, tokens, seconds: (performance.now() - t0) / 1000, extra };
    this.step++;
    this.metrics?.write({ step: res.step, loss: res.loss, lr, gradNorm, skipped, tokens, seconds: res.seconds, ...extra });
    return res;
  }

  /** Runs until `steps`, with a progress bar; calls onStep after each step. */
  async run(onStep?: (r: StepResult) => void | Promise<void>): Promise<StepResult[]> {
    const out: StepResult[] = [];
    const bar = this.opts.progress === false ? undefined : new ProgressBar(this.opts.steps, this.opts.label ?? 'train', 'tok');
    let tokens = 0;
    while (this.step < this.opts.steps) {
      const r = await this.trainStep();
      tokens += r.tokens;
      out.push(r);
      await onStep?.(r);
      bar?.update(this.step, tokens, `loss ${r.loss.toFixed(4)} lr ${r.lr.toExponential(2)}`);
    }
    return out;
  }

  private async globalNorm(g: readonly Tensor[]): Promise<number> {
    const total = tidy(() => g.map((t) => ops.sum(ops.square(t))).reduce((a, b) => ops.add(a, b)));
    const v = (await total.data())[0]!;
    total.dispose();
    return Math.sqrt(v);
  }

  private async firstNonFinite(g: readonly Tensor[]): Promise<string> {
    for (let i = 0; i < g.length; i++) {
      const d = await g[i]!.data();
      for (let j = 0; j < d.length; j++) if (!Number.isFinite(d[j]!)) return this.paramNames[i]!;
    }
    return 'none';
  }
}
