import { countParameters, type ModelConfig } from '@karakoram/model';

/**
 * Training FLOPs of one run, counted from the architecture (Kaplan et al.'s convention):
 * - 6 x activated non-embedding parameters x tokens: 2 per multiply-add forward, 4 backward, for
 *   every weight a token passes through. "Non-embedding" drops only the input embedding (a
 *   gather, no FLOPs); lm_head, the router and the shared expert are matmuls and are counted.
 * - attention scores and values: forward 2 x layers x heads x seqLen x (qk_nope + qk_rope + v) per
 *   token over the full seqLen x seqLen matrix (the kernel computes it, then masks), x3 for training.
 */
export interface TrainingFlops {
  activatedNonEmbedding: number;
  matmul: number;
  attention: number;
  total: number;
}

/** Training FLOPs of `tokens` tokens at `seqLen`: 6 x activated non-embedding parameters x tokens plus the attention score and value FLOPs. */
export function trainingFlops(cfg: ModelConfig, tokens: number, seqLen: number): TrainingFlops {
  const p = countParameters(cfg);
  const activatedNonEmbedding = p.activated - p.breakdown.embedding;
  const matmul = 6 * activatedNonEmbedding * tokens;
  const perTokenFwd = 2 * cfg.num_hidden_layers * cfg.num_attention_heads * seqLen * (cfg.qk_nope_head_dim + cfg.qk_rope_head_dim + cfg.v_head_dim);
  const attention = 3 * perTokenFwd * tokens;
  return { activatedNonEmbedding, matmul, attention, total: matmul + attention };
}
