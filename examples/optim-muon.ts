/** @karakoram/optim-muon: a few Muon steps (AdamW for embeddings, norms and the head) lower a tiny model's loss. */
import { createRuntime, ops, tidy, valueAndGrads } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { ByteTokenizer, DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { Muon } from '@karakoram/optim-muon';

registerCpu();
await createRuntime({ backend: 'cpu' });
const tok = new ByteTokenizer();
const model = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: tok.vocabSize, num_hidden_layers: 2 }), { seed: 1 });
const ids = tok.encode('the cat sat on the mat. the cat sat on the mat.');
const inputs = ops.tensor(ids.slice(0, -1), [1, ids.length - 1], 'i32');
const targets = ops.tensor(ids.slice(1), [1, ids.length - 1], 'i32');
const params = model.namedParameters().filter((p) => p.trainable).map((p) => p.tensor);
const opt = new Muon(model, { lr: 0.02, weightDecay: 0.1 });
const losses: number[] = [];
for (let step = 0; step < 8; step++) {
  const { value, grads } = valueAndGrads(() => model.loss(inputs, targets), params);
  losses.push(value.dataSync()[0]!);
  tidy(() => opt.step(grads));
  value.dispose();
  grads.forEach((g) => g.dispose());
}
console.log(`Muon loss: ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
if (!(losses.at(-1)! < losses[0]!)) throw new Error('loss did not go down');
