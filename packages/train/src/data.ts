import { KarakoramError, ops, type Backend, type Tensor } from '@karakoram/core';

/**
 * A token stream cut into fixed windows of seqLen + 1 tokens (inputs and shifted targets).
 * Batches are taken in a seeded shuffled order of windows; the position in that order is the
 * cursor a checkpoint saves, so a resumed run sees exactly the batches it would have seen.
 */
export class TokenBatcher {
  readonly windows: number;
  private order: Int32Array;
  private epoch = 0;
  cursor = 0;

  constructor(
    readonly tokens: Int32Array,
    readonly seqLen: number,
    readonly batchSize: number,
    readonly seed = 0,
  ) {
    this.windows = Math.floor((tokens.length - 1) / seqLen);
    if (this.windows < 1) {
      throw new KarakoramError('data', `the corpus has ${tokens.length} tokens: at least seqLen + 1 = ${seqLen + 1} are needed`, 'data');
    }
    this.order = this.shuffle(0);
  }

  private shuffle(epoch: number): Int32Array {
    const o = new Int32Array(this.windows);
    for (let i = 0; i < o.length; i++) o[i] = i;
    // Fisher-Yates with a small LCG: deterministic per (seed, epoch), independent of backend.
    let s = (this.seed * 2654435761 + epoch * 40503 + 1) >>> 0;
    for (let i = o.length - 1; i > 0; i--) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const j = s % (i + 1);
      const t = o[i]!;
      o[i] = o[j]!;
      o[j] = t;
    }
    return o;
  }

  /** The next batch as host arrays: inputs and targets, each [batchSize, seqLen] row-major. */
  nextHost(): { inputs: Int32Array; targets: Int32Array } {
    const B = this.batchSize;
    const T = this.seqLen;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      if (this.cursor >= this.windows) {
        this.epoch++;
        this.order = this.shuffle(this.epoch);
        this.cursor = 0;
      }
      const start = this.order[this.cursor++]! * T;
      inputs.set(this.tokens.subarray(start, start + T), b * T);
      targets.set(this.tokens.subarray(start + 1, start + T + 1), b * T);
    }
    return { inputs, targets };
  }

  /** The next batch as i32 tensors [batchSize, seqLen] on `backend` (the current one by default). */
  next(backend?: Backend): { inputs: Tensor; targets: Tensor } {
    const h = this.nextHost();
    const shape = [this.batchSize, this.seqLen];
    return { inputs: ops.tensor(h.inputs, shape, 'i32', backend), targets: ops.tensor(h.targets, shape, 'i32', backend) };
  }

  /** The position in the shuffled window order, for a checkpoint's trainer state. */
  state(): { epoch: number; cursor: number } {
    return { epoch: this.epoch, cursor: this.cursor };
  }
  /** Resumes at a position saved by state(): rebuilds that epoch's shuffle and sets the cursor. */
  restore(s: { epoch: number; cursor: number }): void {
    this.epoch = s.epoch;
    this.order = this.shuffle(s.epoch);
    this.cursor = s.cursor;
  }
}

/** Splits a token stream into train and held-out parts at a window boundary. */
export function splitTokens(tokens: Int32Array, heldOutFraction: number, seqLen: number): { train: Int32Array; heldOut: Int32Array } {
  const cut = Math.floor((tokens.length * (1 - heldOutFraction)) / seqLen) * seqLen;
  return { train: tokens.subarray(0, cut + 1), heldOut: tokens.subarray(cut) };
}
