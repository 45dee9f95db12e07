/** @karakoram/rl: episodes of the arithmetic environment played by a tiny (untrained) policy, rewards scored. */
import { createRuntime } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { ByteTokenizer, DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { ArithmeticEnv, InferenceEngine, evaluate } from '@karakoram/rl';

registerCpu();
await createRuntime({ backend: 'cpu' });
const tok = new ByteTokenizer();
const env = new ArithmeticEnv({ maxOperand: 20 });
const prompt = env.reset(5);
const answer = prompt.replace('=', '').split('+').reduce((a, b) => a + Number(b), 0);
console.log(`prompt ${JSON.stringify(prompt)}: reward for "${answer}\\n" is ${env.step(`${answer}\n`).reward}`);

const policy = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: tok.vocabSize, num_hidden_layers: 2 }), { seed: 1 });
const engine = new InferenceEngine(policy, { seed: 2, stopTokens: tok.encode('\n') });
const r = await evaluate(engine, () => new ArithmeticEnv({ maxOperand: 20 }), tok, { prompts: 4, seed: 1 });
console.log(`4 greedy episodes by an untrained policy: rewards ${r.rewards.join(' ')}, mean ${r.reward}`);
