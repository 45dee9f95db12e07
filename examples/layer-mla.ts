/** @karakoram/layer-mla: the absorbed (latent-cache) path gives the same output as the full path. */
import { createRuntime, ops, tidy } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { MLA } from '@karakoram/layer-mla';

registerCpu();
await createRuntime({ backend: 'cpu' });
const config = {
  hidden_size: 32, num_attention_heads: 4, q_lora_rank: 16, kv_lora_rank: 8,
  qk_nope_head_dim: 8, qk_rope_head_dim: 4, v_head_dim: 8, rope_theta: 10000, rope_scaling: null,
  rms_norm_eps: 1e-6, initializer_range: 0.1,
};
const attn = new MLA(config, { seed: 1 });
tidy(() => {
  const x = ops.randomNormal([1, 6, config.hidden_size], 3);
  const full = attn.forward(x).dataSync();
  const cache = attn.createCache();
  const absorbed = attn.forwardAbsorbed(x, cache).dataSync();
  const diff = Math.max(...Array.from(full, (v, i) => Math.abs(v - absorbed[i]!)));
  console.log(`full vs absorbed: max |diff| = ${diff.toExponential(2)}; the cache keeps ${cache.numbersPerToken} numbers per token (kv_lora_rank + qk_rope_head_dim)`);
  if (diff > 1e-4) throw new Error('absorbed path differs');
  cache.dispose();
});
