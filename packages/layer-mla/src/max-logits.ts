import { keep, ops, type Tensor } from '@karakoram/core';

/**
 * Holds the per-head max logit of the latest recorded forward pass as a kept tensor (no
 * gradient), read on request. Replacing it disposes the previous one, so nothing leaks inside
 * or outside tidy scopes.
 */
export class MaxLogitRecorder {
  private tensor: Tensor | undefined;
  private cached: Float32Array | undefined;

  /** logits [B, H, T, Lk] with masked entries at MASKED; keeps max over batch, queries, keys. */
  record(logits: Tensor): void {
    const m = ops.max(ops.stopGradient(logits), [0, 2, 3]);
    this.set(keep(m));
  }

  /** rowMax [B, H, T] (ops.attention's per-row max logit); keeps the max over batch and rows. */
  recordRowMax(rowMax: Tensor): void {
    this.set(keep(ops.max(ops.stopGradient(rowMax), [0, 2])));
  }

  private set(t: Tensor | undefined): void {
    this.tensor?.dispose();
    this.tensor = t;
    this.cached = undefined;
  }

  /** The [heads] tensor (for async reads on backends without synchronous reads). */
  get current(): Tensor | undefined {
    return this.tensor && !this.tensor.disposed ? this.tensor : undefined;
  }

  /** The recorded per-head max logits, read synchronously (undefined when nothing was recorded). */
  read(): Float32Array | undefined {
    const t = this.current;
    if (!t) return undefined;
    this.cached ??= Float32Array.from(t.dataSync());
    return this.cached;
  }

  /** Drops the recorded values. */
  reset(): void {
    this.set(undefined);
  }
}
