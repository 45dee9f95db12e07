import { KarakoramError, Module, type NamedParameter, type QkClipTarget } from '@karakoram/core';
import { Muon, type Gradients, type MuonOptions, type MuonStepInfo } from '@karakoram/optim-muon';
import {
  applyQkClip,
  findQkClipTargets,
  readMaxLogits,
  readMaxLogitsSync,
  type NamedQkClipTarget,
  type QkClipLayerLog,
} from './qk-clip.js';

/** MuonClip's options: Muon's, plus the QK-Clip threshold and targets. */
export interface MuonClipOptions extends MuonOptions {
  /** The max-logit cap tau (100, as in K2). */
  tau?: number;
  /** false: log the max logits only, never scale (vanilla Muon with logging). Default true. */
  clip?: boolean;
  /**
   * The attention layers to clip. Default: every QkClipTarget found by walking the model's
   * modules() (only possible when a Module is given). Plain targets are named 'attn<i>' in logs.
   */
  targets?: readonly (QkClipTarget | NamedQkClipTarget)[];
  /**
   * After reading a layer's max logits, call its `resetMaxLogits()` when it has one (true), so a
   * step whose forward pass did not record them does not clip again on stale values.
   */
  consumeMaxLogits?: boolean;
}

/** What MuonClip.step() returns (and keeps as `lastLog`). */
export interface QkClipStepLog extends MuonStepInfo {
  tau: number;
  /** Whether heads were scaled (false with `clip: false`). */
  clipEnabled: boolean;
  /** Max over every layer and head; undefined when no layer recorded max logits. */
  maxLogit: number | undefined;
  /** How many heads exceeded tau, over all layers. */
  clippedHeads: number;
  layers: QkClipLayerLog[];
}

/**
 * MuonClip (Kimi K2) = Muon (Moonlight form, AdamW for the rest) + per-head QK-Clip.
 *
 * step(): first the Muon/AdamW update, then for every attention layer (QkClipTarget) and head h
 * whose S_max^h (recorded by the layer in this step's forward pass, run with
 * `recordMaxLogits: true`) exceeds tau: gamma = tau / S_max^h, the head's q_nope/k_nope rows (MHA:
 * W_q/W_k rows) are scaled by sqrt(gamma) and its q_rope rows by gamma. Nothing else is touched.
 * The per-layer max logits and clipped heads are returned and kept in `lastLog`.
 *
 * step() reads the max logits synchronously; on backends without synchronous reads use
 * stepAsync(), which awaits them (same update, same log).
 */
export class MuonClip extends Muon {
  readonly tau: number;
  readonly clipEnabled: boolean;
  readonly targets: readonly NamedQkClipTarget[];
  /** The log of the latest step, if any. */
  lastLog: QkClipStepLog | undefined;
  private readonly consume: boolean;

  constructor(model: Module | readonly NamedParameter[], options: MuonClipOptions) {
    const { tau = 100, clip = true, targets, consumeMaxLogits = true, ...muonOptions } = options;
    super(model, muonOptions);
    if (typeof tau !== 'number' || !Number.isFinite(tau) || tau <= 0) throw new KarakoramError('config', `tau must be a finite number > 0, got ${String(tau)}`, 'MuonClip options');
    this.tau = tau;
    this.clipEnabled = clip;
    this.consume = consumeMaxLogits;
    if (targets) {
      this.targets = targets.map((t, i) => ('target' in t && typeof (t as NamedQkClipTarget).name === 'string' ? (t as NamedQkClipTarget) : { name: `attn${i}`, target: t as QkClipTarget }));
    } else if (model instanceof Module || typeof (model as unknown as Module).modules === 'function') {
      this.targets = findQkClipTargets(model as unknown as Module);
    } else {
      throw new KarakoramError('config', 'give `targets` when the parameters are not a Module (MuonClip cannot find the attention layers)', 'MuonClip');
    }
    if (this.targets.length === 0) {
      throw new KarakoramError('config', 'no QK-Clip target (an attention layer implementing QkClipTarget) was found; use Muon for a model without one, or pass `targets`', 'MuonClip');
    }
  }

  /** Muon/AdamW update, then QK-Clip on the max logits of this step's forward pass. */
  override step(grads: Gradients, lr?: number): QkClipStepLog {
    const maxLogits = this.targets.map((t) => readMaxLogitsSync(t.target));
    const info = super.step(grads, lr);
    return this.finish(info, maxLogits);
  }

  /** The same as step(), reading the max logits asynchronously (for GPU backends). */
  async stepAsync(grads: Gradients, lr?: number): Promise<QkClipStepLog> {
    const maxLogits = await Promise.all(this.targets.map((t) => readMaxLogits(t.target)));
    const info = super.step(grads, lr);
    return this.finish(info, maxLogits);
  }

  private finish(info: MuonStepInfo, maxLogits: (Float32Array | undefined)[]): QkClipStepLog {
    const layers = applyQkClip(this.targets, maxLogits, this.tau, this.clipEnabled);
    if (this.consume) {
      for (const { target } of this.targets) (target as QkClipTarget & { resetMaxLogits?: () => void }).resetMaxLogits?.();
    }
    let maxLogit: number | undefined;
    for (const l of layers) if (l.maxLogit !== undefined && (maxLogit === undefined || l.maxLogit > maxLogit)) maxLogit = l.maxLogit;
    const log: QkClipStepLog = {
      ...info,
      tau: this.tau,
      clipEnabled: this.clipEnabled,
      maxLogit,
      clippedHeads: layers.reduce((n, l) => n + l.clipped.length, 0),
      layers,
    };
    this.lastLog = log;
    return log;
  }
}

/** A compact text table of a step log: layer, max logit, clipped heads (gamma). */
export function formatQkClipLog(log: QkClipStepLog): string {
  const rows = log.layers.map((l) => {
    const heads = l.clipped.map((c) => `${c.head}(${c.gamma.toFixed(3)})`).join(' ');
    return `${(l.name || '<root>').padEnd(32)} ${l.maxLogit === undefined ? '-'.padStart(10) : l.maxLogit.toFixed(2).padStart(10)}  ${heads || '-'}`;
  });
  return [`step ${log.step}  tau ${log.tau}  max ${log.maxLogit?.toFixed(2) ?? '-'}  clipped ${log.clippedHeads}${log.clipEnabled ? '' : ' (log only)'}`, ...rows].join('\n');
}
