import { describe, expect, it } from 'vitest';
import { PRESET_NAMES, countParameters, expectedTensorShapes, inferenceCost, preset } from '../src/index.js';

describe('presets', () => {
  it('all parse, and the big ones carry their public config values', () => {
    for (const n of PRESET_NAMES) expect(preset(n).architectures).toEqual(['DeepseekV3ForCausalLM']);
    expect(preset('kimi-k2')).toMatchObject({ n_routed_experts: 384, num_attention_heads: 64, n_group: 1, first_k_dense_replace: 1, routed_scaling_factor: 2.827, vocab_size: 163840 });
    expect(preset('deepseek-v3')).toMatchObject({ n_routed_experts: 256, num_attention_heads: 128, n_group: 8, topk_group: 4, first_k_dense_replace: 3, vocab_size: 129280 });
    expect(preset('moonlight-16b-a3b')).toMatchObject({ num_hidden_layers: 27, hidden_size: 2048, n_routed_experts: 64, num_experts_per_tok: 6, n_shared_experts: 2, q_lora_rank: null, kv_lora_rank: 512, num_attention_heads: 16 });
    expect(preset('tiny').n_group).toBeGreaterThan(1);
    expect(() => preset('gpt-5')).toThrow(/unknown preset "gpt-5"; expected one of kimi-k2, deepseek-v3/);
  });

  it('a preset is a fresh copy and takes overrides', () => {
    const a = preset('kimi-k2', { num_attention_heads: 128 });
    a.rope_scaling!.factor = 1;
    expect(a.num_attention_heads).toBe(128);
    expect(preset('kimi-k2').rope_scaling!.factor).toBe(32);
  });
});

describe('expectedTensorShapes', () => {
  it('names every tensor exactly as the HF checkpoints do', () => {
    const s = expectedTensorShapes(preset('deepseek-v3'));
    expect(s.get('model.embed_tokens.weight')).toEqual([129280, 7168]);
    expect(s.get('model.layers.0.self_attn.q_a_proj.weight')).toEqual([1536, 7168]);
    expect(s.get('model.layers.0.self_attn.q_a_layernorm.weight')).toEqual([1536]);
    expect(s.get('model.layers.0.self_attn.q_b_proj.weight')).toEqual([128 * 192, 1536]);
    expect(s.get('model.layers.0.self_attn.kv_a_proj_with_mqa.weight')).toEqual([576, 7168]);
    expect(s.get('model.layers.0.self_attn.kv_a_layernorm.weight')).toEqual([512]);
    expect(s.get('model.layers.0.self_attn.kv_b_proj.weight')).toEqual([128 * 256, 512]);
    expect(s.get('model.layers.0.self_attn.o_proj.weight')).toEqual([7168, 128 * 128]);
    expect(s.get('model.layers.2.mlp.gate_proj.weight')).toEqual([18432, 7168]);
    expect(s.has('model.layers.3.mlp.gate_proj.weight')).toBe(false);
    expect(s.get('model.layers.3.mlp.gate.weight')).toEqual([256, 7168]);
    expect(s.get('model.layers.3.mlp.gate.e_score_correction_bias')).toEqual([256]);
    expect(s.get('model.layers.60.mlp.experts.255.down_proj.weight')).toEqual([7168, 2048]);
    expect(s.get('model.layers.3.mlp.shared_experts.up_proj.weight')).toEqual([2048, 7168]);
    expect(s.get('model.norm.weight')).toEqual([7168]);
    expect(s.get('lm_head.weight')).toEqual([129280, 7168]);
    expect([...s.keys()].some((n) => n.startsWith('model.layers.61.'))).toBe(false); // no MTP layer
    const m = expectedTensorShapes(preset('moonlight-16b-a3b'));
    expect(m.get('model.layers.0.self_attn.q_proj.weight')).toEqual([16 * 192, 2048]);
    expect(m.has('model.layers.0.self_attn.q_a_proj.weight')).toBe(false);
    expect(m.get('model.layers.1.mlp.shared_experts.gate_proj.weight')).toEqual([2 * 1408, 2048]);
  });
});

describe('countParameters', () => {
  it('gives exactly 671,026,419,200 for DeepSeek-V3', () => {
    const c = countParameters(preset('deepseek-v3'));
    expect(c.total).toBe(671_026_419_200);
    expect(Object.values(c.breakdown).reduce((a, b) => a + b, 0)).toBe(c.total);
    expect(c.activated).toBe(c.total - 58 * (256 - 8) * 3 * 7168 * 2048);
  });

  it('Kimi K2 is about 1.03T total and 32.9B activated (reported: 1.04T / 32.6B)', () => {
    const c = countParameters(preset('kimi-k2'));
    expect(c.total).toBe(1_026_408_232_448);
    expect(c.activated).toBe(32_861_500_928);
    expect(c.breakdown.routedExperts).toBe(60 * 384 * 3 * 7168 * 2048);
  });

  it('Moonlight-16B-A3B is about 16.0B total and 2.9B activated', () => {
    const c = countParameters(preset('moonlight-16b-a3b'));
    expect(c.total).toBe(15_960_110_208);
    expect(c.activated).toBe(2_914_776_192);
    // Without embeddings and lm_head: 15.29B / 2.24B, the figures usually quoted for it.
    const emb = c.breakdown.embedding + c.breakdown.lmHead;
    expect(((c.total - emb) / 1e9).toFixed(2)).toBe('15.29');
    expect(((c.activated - emb) / 1e9).toFixed(2)).toBe('2.24');
  });

  it('the tiny preset by hand', () => {
    // vocab 64, d 32, 3 layers (1 dense), heads 2, q_lora 16, kv_lora 8, nope 8, rope 4, v 8, 8 experts of 16, 1 shared.
    const attn = 16 * 32 + 16 + 2 * 12 * 16 + 12 * 32 + 8 + 2 * 16 * 8 + 32 * 2 * 8;
    const norms = 2 * 32;
    const dense = 3 * 32 * 64;
    const moe = 8 * 32 + 8 + 8 * 3 * 32 * 16 + 3 * 32 * 16;
    const total = 2 * 64 * 32 + 3 * (attn + norms) + dense + 2 * moe + 32;
    const c = countParameters(preset('tiny'));
    expect(c.total).toBe(total);
    expect(c.activated).toBe(total - 2 * 6 * 3 * 32 * 16);
  });
});

describe('inferenceCost', () => {
  const T = 131072;
  it('KV cache: 576 vs 20480 numbers a layer for K2', () => {
    const c = inferenceCost(preset('kimi-k2'), T);
    expect(c.kvBytesPerToken.absorbed).toBe(61 * 576 * 2);
    expect(c.kvBytesPerToken.full).toBe(61 * 20480 * 2);
    expect(c.kvBytes.absorbed).toBe(61 * 576 * 2 * T);
  });

  it('64 -> 128 heads on K2 at 128k context', () => {
    const a = inferenceCost(preset('kimi-k2'), T);
    const b = inferenceCost(preset('kimi-k2', { num_attention_heads: 128 }), T);
    // By hand, per layer: absorbed MLA = H*(128*512 + T*(512+64) + T*512 + 512*128); naive = H*(512*256 + T*192 + T*128).
    const perHeadAbsorbed = 128 * 512 + T * 576 + T * 512 + 512 * 128;
    expect(a.parts.mlaAbsorbed).toBe(2 * 61 * 64 * perHeadAbsorbed);
    expect(b.parts.mlaNaive).toBe(2 * 61 * 128 * (512 * 256 + T * 320));
    // Doubling the heads adds q_b_proj and o_proj rows: 61 * 64 * (192*1536 + 128*7168) multiply-adds.
    expect(b.parts.linear - a.parts.linear).toBe(2 * 61 * 64 * (192 * 1536 + 128 * 7168));
    const absorbed = b.flops.absorbed / a.flops.absorbed - 1;
    const naive = b.flops.naive / a.flops.naive - 1;
    console.log(`K2 at 128k, 64 -> 128 heads: absorbed +${(absorbed * 100).toFixed(1)}%, naive +${(naive * 100).toFixed(1)}% (report: +83%)`);
    expect(absorbed).toBeCloseTo(0.955, 3);
    expect(naive).toBeCloseTo(0.865, 3);
  });
});
