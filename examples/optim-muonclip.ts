/** @karakoram/optim-muonclip: MuonClip steps with a low tau: per-head QK-Clip logs and caps the max attention logits. */
import { createRuntime, ops, tidy, valueAndGrads } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { ByteTokenizer, DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { MuonClip, formatQkClipLog } from '@karakoram/optim-muonclip';

registerCpu();
await createRuntime({ backend: 'cpu' });
const tok = new ByteTokenizer();
const model = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: tok.vocabSize, num_hidden_layers: 2 }), { seed: 1 });
const ids = tok.encode('to be or not to be, that is the question.');
const inputs = ops.tensor(ids.slice(0, -1), [1, ids.length - 1], 'i32');
const targets = ops.tensor(ids.slice(1), [1, ids.length - 1], 'i32');
const params = model.namedParameters().filter((p) => p.trainable).map((p) => p.tensor);
const opt = new MuonClip(model, { lr: 0.05, tau: 0.04, weightDecay: 0.1 });
for (let step = 1; step <= 4; step++) {
  const { value, grads } = valueAndGrads(() => model.loss(inputs, targets, undefined, { recordMaxLogits: true }), params);
  const log = tidy(() => opt.step(grads));
  console.log(`step ${step}: loss ${value.dataSync()[0]!.toFixed(3)}, max logit ${log.maxLogit?.toFixed(3)}, ${log.clippedHeads} heads clipped`);
  value.dispose();
  grads.forEach((g) => g.dispose());
}
console.log(formatQkClipLog(opt.lastLog!));
