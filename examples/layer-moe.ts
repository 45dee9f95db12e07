/** @karakoram/layer-moe: a sigmoid router with group-limited top-k picks experts per token; the MoE mixes them. */
import { createRuntime, ops, tidy } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { MoE } from '@karakoram/layer-moe';

registerCpu();
await createRuntime({ backend: 'cpu' });
const moe = new MoE({
  hidden_size: 16, moe_intermediate_size: 8, n_routed_experts: 8, num_experts_per_tok: 2, n_shared_experts: 1,
  routed_scaling_factor: 2.5, scoring_func: 'sigmoid', topk_method: 'noaux_tc', n_group: 4, topk_group: 2,
  norm_topk_prob: true, initializer_range: 0.1,
}, { seed: 1 });
tidy(() => {
  const x = ops.randomNormal([5, 16], 2);
  const r = moe.gate.route(x);
  const idx = r.indices.dataSync();
  const wts = r.weights.dataSync();
  for (let t = 0; t < 5; t++) console.log(`token ${t}: experts ${idx[2 * t]}, ${idx[2 * t + 1]} with weights ${wts[2 * t]!.toFixed(3)}, ${wts[2 * t + 1]!.toFixed(3)}`);
  const { output } = moe.forward(ops.reshape(x, [1, 5, 16]));
  console.log(`output shape [${output.shape.join(', ')}], expert load ${Array.from(moe.lastLoad()).join(' ')}`);
});
