import type { Tensor } from '../tensor.js';

/** Rows [start, end) of a weight stored [out, in] (HF layout): the rows a head owns. */
export interface RowRange {
  param: Tensor;
  /** The parameter's state-dict name, for logs. */
  name: string;
  start: number;
  end: number;
}

/** What QK-Clip scales for one head when its max logit exceeds tau (gamma = tau / S_max). */
export interface HeadClipRows {
  /** Scaled by sqrt(gamma): MLA q_nope and k_nope rows; plain MHA W_q and W_k rows. */
  sqrtGamma: RowRange[];
  /** Scaled by gamma: MLA q_rope rows (the shared k_rope is never touched). */
  gamma: RowRange[];
}

/**
 * Implemented by attention layers (MLA and plain multi-head) so that MuonClip can clip any of
 * them without importing the layer packages (the dependency points down, to core).
 */
export interface QkClipTarget {
  readonly qkClip: true;
  readonly numHeads: number;
  /**
   * S_max per head (softmax scale included) over the batch and unmasked pairs, from the most
   * recent training forward pass; undefined when there was none since the last reset.
   */
  lastMaxLogits(): Float32Array | undefined;
  /** The weight rows QK-Clip rescales when `head`'s max logit exceeds tau. */
  headRows(head: number): HeadClipRows;
}

/** True for modules implementing QkClipTarget (marked by `qkClip: true`), so MuonClip can find them in a model. */
export const isQkClipTarget = (m: unknown): m is QkClipTarget =>
  typeof m === 'object' && m !== null && (m as QkClipTarget).qkClip === true;
