/** @karakoram/model: build the tiny preset, count its parameters, generate a few tokens. */
import { createRuntime } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { ByteTokenizer, DeepseekV3ForCausalLM, countParameters, generate, preset } from '@karakoram/model';

registerCpu();
await createRuntime({ backend: 'cpu' });
const tok = new ByteTokenizer();
const config = preset('tiny', { vocab_size: tok.vocabSize });
const model = new DeepseekV3ForCausalLM(config, { seed: 1 });
const count = countParameters(config);
console.log(`tiny: ${config.num_hidden_layers} layers, ${count.total.toLocaleString()} parameters, ${count.activated.toLocaleString()} activated per token`);
const out = generate(model, [[tok.bosId, ...tok.encode('Call me ')]], { maxNewTokens: 16, temperature: 0.8, seed: 3 });
console.log(`sample (untrained): ${JSON.stringify(tok.decode(out.tokens[0]!))}`);
model.dispose();
