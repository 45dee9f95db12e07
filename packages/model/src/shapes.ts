/**
 * Every tensor of a DeepseekV3ForCausalLM checkpoint, by its exact Hugging Face name, with its
 * shape (linear weights are [out, in], as torch stores them). This is the one source of truth:
 * parameter counts, checkpoint validation and the model's own state dict all follow it.
 * MTP layers (index >= num_hidden_layers) and FP8 `_scale_inv` tensors are not part of the model.
 */
import { isMoeLayer, type ModelConfig } from './config.js';

/** HF tensor name to shape, in checkpoint order. */
export type TensorShapes = Map<string, number[]>;

/** Which part of the model a tensor belongs to, for parameter breakdowns. */
export type TensorRole = 'embedding' | 'lmHead' | 'attention' | 'norm' | 'denseMlp' | 'router' | 'routedExperts' | 'sharedExperts';

/** The HF name prefix of decoder layer `i`: `model.layers.{i}`. */
export function layerPrefix(i: number): string {
  return `model.layers.${i}`;
}

/** The MLA projections of one layer. */
function attentionShapes(cfg: ModelConfig, p: string, out: TensorShapes): void {
  const h = cfg.num_attention_heads;
  const d = cfg.hidden_size;
  const qkHead = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim;
  const bias = cfg.attention_bias;
  if (cfg.q_lora_rank === null) {
    out.set(`${p}.self_attn.q_proj.weight`, [h * qkHead, d]);
  } else {
    out.set(`${p}.self_attn.q_a_proj.weight`, [cfg.q_lora_rank, d]);
    if (bias) out.set(`${p}.self_attn.q_a_proj.bias`, [cfg.q_lora_rank]);
    out.set(`${p}.self_attn.q_a_layernorm.weight`, [cfg.q_lora_rank]);
    out.set(`${p}.self_attn.q_b_proj.weight`, [h * qkHead, cfg.q_lora_rank]);
  }
  out.set(`${p}.self_attn.kv_a_proj_with_mqa.weight`, [cfg.kv_lora_rank + cfg.qk_rope_head_dim, d]);
  if (bias) out.set(`${p}.self_attn.kv_a_proj_with_mqa.bias`, [cfg.kv_lora_rank + cfg.qk_rope_head_dim]);
  out.set(`${p}.self_attn.kv_a_layernorm.weight`, [cfg.kv_lora_rank]);
  out.set(`${p}.self_attn.kv_b_proj.weight`, [h * (cfg.qk_nope_head_dim + cfg.v_head_dim), cfg.kv_lora_rank]);
  out.set(`${p}.self_attn.o_proj.weight`, [d, h * cfg.v_head_dim]);
  if (bias) out.set(`${p}.self_attn.o_proj.bias`, [d]);
}

function swiglu(p: string, d: number, width: number, out: TensorShapes): void {
  out.set(`${p}.gate_proj.weight`, [width, d]);
  out.set(`${p}.up_proj.weight`, [width, d]);
  out.set(`${p}.down_proj.weight`, [d, width]);
}

/** Every tensor name and shape the config's checkpoint must hold (no MTP layers, no FP8 scales). */
export function expectedTensorShapes(cfg: ModelConfig): TensorShapes {
  const out: TensorShapes = new Map();
  const d = cfg.hidden_size;
  out.set('model.embed_tokens.weight', [cfg.vocab_size, d]);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = layerPrefix(i);
    out.set(`${p}.input_layernorm.weight`, [d]);
    attentionShapes(cfg, p, out);
    out.set(`${p}.post_attention_layernorm.weight`, [d]);
    if (!isMoeLayer(cfg, i)) {
      swiglu(`${p}.mlp`, d, cfg.intermediate_size, out);
      continue;
    }
    const e = cfg.n_routed_experts!;
    out.set(`${p}.mlp.gate.weight`, [e, d]);
    // The aux-loss-free balancing bias exists only with noaux_tc routing.
    if (cfg.topk_method === 'noaux_tc') out.set(`${p}.mlp.gate.e_score_correction_bias`, [e]);
    for (let x = 0; x < e; x++) swiglu(`${p}.mlp.experts.${x}`, d, cfg.moe_intermediate_size, out);
    const shared = cfg.n_shared_experts ?? 0;
    if (shared > 0) swiglu(`${p}.mlp.shared_experts`, d, cfg.moe_intermediate_size * shared, out);
  }
  out.set('model.norm.weight', [d]);
  if (!cfg.tie_word_embeddings) out.set('lm_head.weight', [cfg.vocab_size, d]);
  return out;
}

/** The role of an HF tensor name (see TensorRole). */
export function tensorRole(name: string): TensorRole {
  if (name === 'model.embed_tokens.weight') return 'embedding';
  if (name === 'lm_head.weight') return 'lmHead';
  if (/(layernorm|norm)\.weight$/.test(name)) return 'norm';
  if (name.includes('.self_attn.')) return 'attention';
  if (name.includes('.mlp.experts.')) return 'routedExperts';
  if (name.includes('.mlp.shared_experts.')) return 'sharedExperts';
  if (name.includes('.mlp.gate.')) return 'router';
  return 'denseMlp';
}

/** The layer index in a `model.layers.{i}.` name, or undefined. */
export function layerIndex(name: string): number | undefined {
  const m = /^model\.layers\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
}
