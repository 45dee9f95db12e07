/**
 * Parameter counts, derived from expectedTensorShapes (one source of truth): every tensor of the
 * checkpoint including embeddings, lm_head, norm gains and the router's correction bias; no MTP
 * layer and no FP8 scales.
 */
import { isMoeLayer, type ModelConfig } from './config.js';
import { expectedTensorShapes, tensorRole, type TensorRole } from './shapes.js';

/** Total and per-token activated parameter counts, with a per-role breakdown. */
export interface ParameterCount {
  total: number;
  /** Per token: total minus the routed experts a token does not use ((E - k) per MoE layer). */
  activated: number;
  breakdown: Record<TensorRole, number>;
}

/** Counts the parameters of the checkpoint a config describes, from expectedTensorShapes. */
export function countParameters(cfg: ModelConfig): ParameterCount {
  const breakdown: Record<TensorRole, number> = {
    embedding: 0, lmHead: 0, attention: 0, norm: 0, denseMlp: 0, router: 0, routedExperts: 0, sharedExperts: 0,
  };
  let total = 0;
  for (const [name, shape] of expectedTensorShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    breakdown[tensorRole(name)] += n;
    total += n;
  }
  let moeLayers = 0;
  for (let i = 0; i < cfg.num_hidden_layers; i++) if (isMoeLayer(cfg, i)) moeLayers++;
  const perExpert = 3 * cfg.hidden_size * cfg.moe_intermediate_size;
  const unused = moeLayers * ((cfg.n_routed_experts ?? 0) - (cfg.num_experts_per_tok ?? 0)) * perExpert;
  return { total, activated: total - unused, breakdown };
}
