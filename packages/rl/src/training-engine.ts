/**
 * The trainer side: the policy model and its MuonClip optimizer. update() takes finished
 * samples (with advantages) and runs optimizer steps on the K2 objective (or GRPO), plus an
 * optional PTX loss (next-token cross-entropy on a fixed text set, weighted) as K2 does to keep
 * the policy's language ability. The optimizer state can be offloaded to host memory while the
 * inference engine runs (offload.ts).
 */
import { KarakoramError, noGrad, ops, tidy, valueAndGrads, type Tensor } from '@karakoram/core';
import type { DeepseekV3ForCausalLM } from '@karakoram/model';
import { MuonClip } from '@karakoram/optim-muonclip';
import type { TokenBatcher } from '@karakoram/train';
import { grpoLoss, k2Loss, packSamples, type PolicySample } from './objective.js';
import { HostOffload, type OffloadReport } from './offload.js';

/** The policy objective: K2 (squared advantage with a log-ratio penalty `tau`) or GRPO (clipped ratio). */
export type Objective = { kind: 'k2'; tau: number } | { kind: 'grpo'; clip: number };

/** Settings of the {@link TrainingEngine}. */
export interface TrainingEngineOptions {
  objective: Objective;
  lr: number;
  /** Default: MuonClip over the model with weight decay 0 and tau 100. */
  optimizer?: MuonClip;
  /** Clip the global gradient norm (0: off). */
  clipNorm?: number;
  /** Samples per forward pass (gradients of micro-batches add up). Default: all. */
  microBatch?: number;
  /** PTX: cross-entropy on batches of a fixed token set, times `weight`, added to the loss. */
  ptx?: { batcher: TokenBatcher; weight: number };
}

/** What one {@link TrainingEngine.update} did: losses, gradient norm and log-ratio. */
export interface UpdateStats {
  steps: number;
  /** Policy loss before the first step and after the last step's forward. */
  lossFirst: number;
  lossLast: number;
  ptxLoss?: number;
  gradNorm: number;
  /** Mean log(pi/pi_old) per sample at the first step (≈ 0 on-policy). */
  meanLogRatio: number;
  maxLogit?: number;
  seconds: number;
}

/** The trainer: the policy model and its MuonClip optimizer, whose state can be offloaded while rollouts run. */
export class TrainingEngine {
  readonly optimizer: MuonClip;
  private readonly offloader: HostOffload;

  constructor(readonly model: DeepseekV3ForCausalLM, readonly opts: TrainingEngineOptions) {
    this.optimizer = opts.optimizer ?? new MuonClip(model, { lr: opts.lr, weightDecay: 0, tau: 100 });
    this.offloader = new HostOffload(() => this.optimizer.stateDict());
  }

  /** Downloads the optimizer state to host memory and frees it on the device. */
  offloadOptimizer(): Promise<OffloadReport> {
    return this.offloader.offload();
  }
  /** Brings the optimizer state back (done by update() when needed). */
  restoreOptimizer(): OffloadReport {
    return this.offloader.restore(this.model.lm_head.weight.backend);
  }
  get optimizerOffloaded(): boolean {
    return this.offloader.offloaded;
  }

  /** Restores the optimizer state and runs `steps` optimizer steps on the samples (in micro-batches); returns loss and gradient stats. */
  async update(samples: readonly PolicySample[], steps = 1): Promise<UpdateStats> {
    if (!samples.length) throw new KarakoramError('args', 'no samples to train on', 'TrainingEngine.update');
    const t0 = performance.now();
    this.restoreOptimizer();
    const params = this.optimizer.params as Tensor[];
    const micro = Math.max(1, this.opts.microBatch ?? samples.length);
    const batches = [];
    for (let i = 0; i < samples.length; i += micro) batches.push(packSamples(samples.slice(i, i + micro)));
    const stats: UpdateStats = { steps, lossFirst: NaN, lossLast: NaN, gradNorm: 0, meanLogRatio: 0, seconds: 0 };
    for (let s = 0; s < steps; s++) {
      let grads: Tensor[] | undefined;
      let loss = 0;
      let logRatio = 0;
      for (const b of batches) {
        const r = tidy(() => {
          const out = valueAndGrads(() => {
            const o = this.opts.objective;
            const res = o.kind === 'k2' ? k2Loss(this.model, b, o.tau, samples.length, { recordMaxLogits: true }) : grpoLoss(this.model, b, o.clip, samples.length, { recordMaxLogits: true });
            return { loss: res.loss, logp: res.logp };
          }, params);
          const summed = grads ? out.grads.map((g, i) => ops.add(grads![i]!, g)) : out.grads;
          return { loss: out.value.loss, logp: out.value.logp, grads: summed };
        });
        grads?.forEach((g) => g.dispose());
        grads = r.grads;
        loss += (await r.loss.data())[0]!;
        const lp = await r.logp.data();
        for (let n = 0; n < b.N; n++) logRatio += lp[n]! - b.oldSums[n]!;
        r.loss.dispose();
        r.logp.dispose();
      }
      if (this.opts.ptx) grads = await this.addPtx(grads!, stats);
      if (s === 0) {
        stats.lossFirst = loss;
        stats.meanLogRatio = logRatio / samples.length;
      }
      stats.lossLast = loss;
      stats.gradNorm = await this.step(grads!);
    }
    stats.maxLogit = this.optimizer.lastLog?.maxLogit;
    stats.seconds = (performance.now() - t0) / 1000;
    return stats;
  }

  private async addPtx(grads: Tensor[], stats: UpdateStats): Promise<Tensor[]> {
    const { batcher, weight } = this.opts.ptx!;
    const params = this.optimizer.params as Tensor[];
    const r = tidy(() => {
      const { inputs, targets } = batcher.next(params[0]!.backend);
      const out = valueAndGrads(() => ops.mul(this.model.loss(inputs, targets, undefined, { auxLoss: false }), weight), params);
      return { loss: out.value, grads: out.grads.map((g, i) => ops.add(grads[i]!, g)) };
    });
    grads.forEach((g) => g.dispose());
    stats.ptxLoss = (await r.loss.data())[0]! / weight;
    r.loss.dispose();
    return r.grads;
  }

  /** Global-norm clipping and one optimizer step; frees the gradients. */
  private async step(grads: Tensor[]): Promise<number> {
    const total = tidy(() => grads.map((g) => ops.sum(ops.square(g))).reduce((a, b) => ops.add(a, b)));
    const norm = Math.sqrt((await total.data())[0]!);
    total.dispose();
    if (!Number.isFinite(norm)) {
      grads.forEach((g) => g.dispose());
      throw new KarakoramError('non-finite', `the policy gradient norm is ${norm}; lower the learning rate or tau`, 'TrainingEngine');
    }
    const clip = this.opts.clipNorm ?? 0;
    const scale = clip > 0 && norm > clip ? clip / norm : 1;
    tidy(() => noGrad(() => this.optimizer.step(scale === 1 ? grads : grads.map((g) => ops.mul(g, scale)), this.opts.lr)));
    grads.forEach((g) => g.dispose());
    return norm;
  }
}
