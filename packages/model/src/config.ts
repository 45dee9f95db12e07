import { parseConfig, z } from '@karakoram/core';

/**
 * The `config.json` of a DeepseekV3ForCausalLM checkpoint (Kimi K2, DeepSeek-V3, Moonlight),
 * with the HF key names. Unknown keys are kept (checkpoints carry many), so a config read and
 * written back loses nothing.
 */
export const RopeScaling = z
  .object({
    type: z.string().optional(),
    rope_type: z.string().optional(),
    factor: z.number().positive(),
    original_max_position_embeddings: z.number().int().positive(),
    beta_fast: z.number().default(32),
    beta_slow: z.number().default(1),
    mscale: z.number().default(1),
    mscale_all_dim: z.number().default(0),
  })
  .passthrough();
export type RopeScaling = z.output<typeof RopeScaling>;

/** Schema of a DeepseekV3ForCausalLM config.json, HF key names and defaults; unknown keys pass through. */
export const ModelConfig = z
  .object({
    architectures: z.array(z.string()).optional(),
    model_type: z.string().default('deepseek_v3'),
    vocab_size: z.number().int().positive(),
    hidden_size: z.number().int().positive(),
    intermediate_size: z.number().int().positive(),
    moe_intermediate_size: z.number().int().positive(),
    num_hidden_layers: z.number().int().positive(),
    num_attention_heads: z.number().int().positive(),
    num_key_value_heads: z.number().int().positive().optional(),
    n_shared_experts: z.number().int().nonnegative().nullable().default(1),
    n_routed_experts: z.number().int().nonnegative().nullable().default(null),
    num_experts_per_tok: z.number().int().positive().nullable().default(null),
    routed_scaling_factor: z.number().default(1),
    scoring_func: z.enum(['sigmoid', 'softmax']).default('softmax'),
    topk_method: z.enum(['noaux_tc', 'greedy', 'group_limited_greedy']).default('greedy'),
    n_group: z.number().int().positive().nullable().default(1),
    topk_group: z.number().int().positive().nullable().default(1),
    norm_topk_prob: z.boolean().default(false),
    first_k_dense_replace: z.number().int().nonnegative().default(0),
    moe_layer_freq: z.number().int().positive().default(1),
    q_lora_rank: z.number().int().positive().nullable(),
    kv_lora_rank: z.number().int().positive(),
    qk_nope_head_dim: z.number().int().positive(),
    qk_rope_head_dim: z.number().int().positive(),
    v_head_dim: z.number().int().positive(),
    hidden_act: z.literal('silu').default('silu'),
    max_position_embeddings: z.number().int().positive(),
    rms_norm_eps: z.number().positive().default(1e-6),
    rope_theta: z.number().positive().default(10000),
    rope_scaling: RopeScaling.nullable().default(null),
    attention_bias: z.boolean().default(false),
    tie_word_embeddings: z.boolean().default(false),
    initializer_range: z.number().positive().default(0.02),
    aux_loss_alpha: z.number().nonnegative().default(0),
    seq_aux: z.boolean().default(true),
    num_nextn_predict_layers: z.number().int().nonnegative().default(0),
    bos_token_id: z.number().int().nullable().optional(),
    eos_token_id: z.union([z.number().int(), z.array(z.number().int())]).nullable().optional(),
    torch_dtype: z.string().optional(),
    quantization_config: z.record(z.unknown()).optional(),
  })
  .passthrough();
/** A validated model config (defaults applied). */
export type ModelConfig = z.output<typeof ModelConfig>;
/** A model config as written, before validation and defaults (optional keys may be left out). */
export type ModelConfigInput = z.input<typeof ModelConfig>;

/** Validates an HF config object; errors name each bad key. */
export function parseModelConfig(raw: unknown, where = 'config.json'): ModelConfig {
  return parseConfig(ModelConfig, raw, where);
}

/** True when layer i is a MoE layer (HF rule: i >= first_k_dense_replace and i % moe_layer_freq == 0). */
export function isMoeLayer(cfg: ModelConfig, i: number): boolean {
  return cfg.n_routed_experts !== null && cfg.n_routed_experts > 0 && i >= cfg.first_k_dense_replace && i % cfg.moe_layer_freq === 0;
}
