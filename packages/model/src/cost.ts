/**
 * Inference cost of one generated token (decode step) at a given context length.
 *
 * FLOPs are 2 per multiply-add and count only:
 * - every weight matrix the token passes through: the MLA projections (q_a/q_b or q_proj,
 *   kv_a_proj_with_mqa, o_proj), the dense MLP or, in MoE layers, the router gate, the k routed
 *   experts it is sent to and the shared experts, and lm_head;
 * - attention: the query-key score products and the probability-value products over `context`
 *   positions (the cache, the new token included).
 * Not counted: the embedding lookup (a gather), norms, RoPE, softmax, activations, routing top-k,
 * residual adds. The two attention paths differ only in the MLA part:
 * - naive ("full cache"): kv_b_proj expands the new token's latent into per-head k_nope and v
 *   (kv_lora * H * (nope + v)); scores H * T * (nope + rope); values H * T * v.
 * - absorbed: kv_b_proj's k part is folded into the query (H * nope * kv_lora) and its v part
 *   applied after attention (H * kv_lora * v); scores run against the cached latent and shared
 *   k_rope, H * T * (kv_lora + rope); values H * T * kv_lora.
 * KV-cache bytes are bf16 (2 bytes a number) per token over all layers: absorbed caches
 * kv_lora + rope numbers a layer, full caches H * (nope + rope) + H * v.
 */
import { isMoeLayer, type ModelConfig } from './config.js';

/** FLOPs and KV-cache bytes of one decode step at `context`, for the absorbed and naive MLA paths. */
export interface InferenceCost {
  context: number;
  /** FLOPs per generated token. */
  flops: { absorbed: number; naive: number };
  /** The part common to both paths (weights other than kv_b_proj) and each path's attention part. */
  parts: { linear: number; mlaAbsorbed: number; mlaNaive: number };
  /** KV-cache bytes for one token (all layers), bf16. */
  kvBytesPerToken: { absorbed: number; full: number };
  /** KV-cache bytes for the whole context. */
  kvBytes: { absorbed: number; full: number };
}

/** Estimates decode-step FLOPs and KV-cache size at `context` positions (what is counted: see the module comment). */
export function inferenceCost(cfg: ModelConfig, context: number): InferenceCost {
  const d = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const { qk_nope_head_dim: nope, qk_rope_head_dim: rope, v_head_dim: v, kv_lora_rank: c } = cfg;
  const T = context;
  let linear = d * cfg.vocab_size; // lm_head
  let mlaAbsorbed = 0;
  let mlaNaive = 0;
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const q = cfg.q_lora_rank === null ? d * H * (nope + rope) : d * cfg.q_lora_rank + cfg.q_lora_rank * H * (nope + rope);
    linear += q + d * (c + rope) + H * v * d;
    if (isMoeLayer(cfg, i)) {
      const k = cfg.num_experts_per_tok ?? 0;
      const shared = (cfg.n_shared_experts ?? 0) * cfg.moe_intermediate_size;
      linear += d * cfg.n_routed_experts! + 3 * d * cfg.moe_intermediate_size * k + 3 * d * shared;
    } else {
      linear += 3 * d * cfg.intermediate_size;
    }
    mlaNaive += c * H * (nope + v) + H * T * (nope + rope) + H * T * v;
    mlaAbsorbed += H * nope * c + H * T * (c + rope) + H * T * c + H * c * v;
  }
  const L = cfg.num_hidden_layers;
  const perTokAbsorbed = 2 * L * (c + rope);
  const perTokFull = 2 * L * (H * (nope + rope) + H * v);
  return {
    context,
    flops: { absorbed: 2 * (linear + mlaAbsorbed), naive: 2 * (linear + mlaNaive) },
    parts: { linear: 2 * linear, mlaAbsorbed: 2 * mlaAbsorbed, mlaNaive: 2 * mlaNaive },
    kvBytesPerToken: { absorbed: perTokAbsorbed, full: perTokFull },
    kvBytes: { absorbed: perTokAbsorbed * T, full: perTokFull * T },
  };
}
