/**
 * Named model configs. The big three carry the values of their public config.json (HF key names);
 * `tiny` is for tests and `small` for a demo that trains in minutes on a CPU.
 */
import { KarakoramError } from '@karakoram/core';
import { parseModelConfig, type ModelConfig, type ModelConfigInput } from './config.js';

const FP8_BLOCK = { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [128, 128] };

/** moonshotai/Kimi-K2-Base config.json (K2-Instruct differs only in generation ids). */
const kimiK2: ModelConfigInput = {
  architectures: ['DeepseekV3ForCausalLM'],
  model_type: 'kimi_k2',
  vocab_size: 163840,
  hidden_size: 7168,
  intermediate_size: 18432,
  moe_intermediate_size: 2048,
  num_hidden_layers: 61,
  num_attention_heads: 64,
  num_key_value_heads: 64,
  n_shared_experts: 1,
  n_routed_experts: 384,
  num_experts_per_tok: 8,
  routed_scaling_factor: 2.827,
  scoring_func: 'sigmoid',
  topk_method: 'noaux_tc',
  n_group: 1,
  topk_group: 1,
  norm_topk_prob: true,
  first_k_dense_replace: 1,
  moe_layer_freq: 1,
  q_lora_rank: 1536,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
  max_position_embeddings: 131072,
  rms_norm_eps: 1e-6,
  rope_theta: 50000,
  rope_scaling: { type: 'yarn', factor: 32, original_max_position_embeddings: 4096, beta_fast: 1, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
  attention_bias: false,
  tie_word_embeddings: false,
  aux_loss_alpha: 0.001,
  seq_aux: true,
  num_nextn_predict_layers: 0,
  bos_token_id: 163584,
  eos_token_id: 163585,
  torch_dtype: 'bfloat16',
  quantization_config: FP8_BLOCK,
};

/** deepseek-ai/DeepSeek-V3 config.json. Its checkpoint also holds one MTP layer (layer 61), not part of the model. */
const deepseekV3: ModelConfigInput = {
  ...kimiK2,
  model_type: 'deepseek_v3',
  vocab_size: 129280,
  num_attention_heads: 128,
  num_key_value_heads: 128,
  n_routed_experts: 256,
  routed_scaling_factor: 2.5,
  n_group: 8,
  topk_group: 4,
  first_k_dense_replace: 3,
  max_position_embeddings: 163840,
  rope_theta: 10000,
  rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
  num_nextn_predict_layers: 1,
  bos_token_id: 0,
  eos_token_id: 1,
};

/** moonshotai/Moonlight-16B-A3B config.json: no query LoRA, 64 experts, 2 shared, no YaRN. */
const moonlight: ModelConfigInput = {
  architectures: ['DeepseekV3ForCausalLM'],
  model_type: 'deepseek_v3',
  vocab_size: 163840,
  hidden_size: 2048,
  intermediate_size: 11264,
  moe_intermediate_size: 1408,
  num_hidden_layers: 27,
  num_attention_heads: 16,
  num_key_value_heads: 16,
  n_shared_experts: 2,
  n_routed_experts: 64,
  num_experts_per_tok: 6,
  routed_scaling_factor: 2.446,
  scoring_func: 'sigmoid',
  topk_method: 'noaux_tc',
  n_group: 1,
  topk_group: 1,
  norm_topk_prob: true,
  first_k_dense_replace: 1,
  moe_layer_freq: 1,
  q_lora_rank: null,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
  max_position_embeddings: 8192,
  rms_norm_eps: 1e-5,
  rope_theta: 50000,
  rope_scaling: null,
  attention_bias: false,
  tie_word_embeddings: false,
  aux_loss_alpha: 0.001,
  seq_aux: true,
  num_nextn_predict_layers: 0,
  bos_token_id: 163584,
  eos_token_id: 163585,
  torch_dtype: 'bfloat16',
};

/**
 * For tests: every code path at toy size. Query LoRA, one dense layer then MoE, 8 experts in
 * 4 groups (group-limited routing, 2 groups kept), top-2, a shared expert, YaRN on.
 */
const tiny: ModelConfigInput = {
  architectures: ['DeepseekV3ForCausalLM'],
  model_type: 'kimi_k2',
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 64,
  moe_intermediate_size: 16,
  num_hidden_layers: 3,
  num_attention_heads: 2,
  n_shared_experts: 1,
  n_routed_experts: 8,
  num_experts_per_tok: 2,
  routed_scaling_factor: 2.5,
  scoring_func: 'sigmoid',
  topk_method: 'noaux_tc',
  n_group: 4,
  topk_group: 2,
  norm_topk_prob: true,
  first_k_dense_replace: 1,
  q_lora_rank: 16,
  kv_lora_rank: 8,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 4,
  v_head_dim: 8,
  max_position_embeddings: 256,
  rope_theta: 10000,
  rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 64, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
};

/** A demo model that trains in minutes on a CPU (8.2M parameters, 4.1M activated per token). */
const small: ModelConfigInput = {
  architectures: ['DeepseekV3ForCausalLM'],
  model_type: 'kimi_k2',
  vocab_size: 4096,
  hidden_size: 256,
  intermediate_size: 768,
  moe_intermediate_size: 128,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  n_shared_experts: 1,
  n_routed_experts: 16,
  num_experts_per_tok: 2,
  routed_scaling_factor: 2.5,
  scoring_func: 'sigmoid',
  topk_method: 'noaux_tc',
  n_group: 1,
  topk_group: 1,
  norm_topk_prob: true,
  first_k_dense_replace: 1,
  q_lora_rank: 128,
  kv_lora_rank: 64,
  qk_nope_head_dim: 32,
  qk_rope_head_dim: 16,
  v_head_dim: 32,
  max_position_embeddings: 1024,
  rope_theta: 10000,
  rope_scaling: null,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  aux_loss_alpha: 0.001,
  seq_aux: true,
};

const RAW = { 'kimi-k2': kimiK2, 'deepseek-v3': deepseekV3, 'moonlight-16b-a3b': moonlight, tiny, small } as const;
/** Names of the built-in model configs: the public Kimi K2, DeepSeek-V3 and Moonlight configs, plus `tiny` (tests) and `small` (CPU demo). */
export type PresetName = keyof typeof RAW;
/** Every PresetName (e.g. for validating a preset name in a config schema). */
export const PRESET_NAMES = Object.keys(RAW) as PresetName[];

/** A fresh, validated copy of a preset, optionally with some keys changed (e.g. { num_attention_heads: 128 }). */
export function preset(name: PresetName | string, overrides: Partial<ModelConfigInput> = {}): ModelConfig {
  if (!Object.hasOwn(RAW, name)) {
    throw new KarakoramError('preset', `unknown preset "${name}"; expected one of ${PRESET_NAMES.join(', ')}`);
  }
  return parseModelConfig(structuredClone({ ...RAW[name as PresetName], ...overrides }), `preset ${name}`);
}
