/** @karakoram/llm: serve a tiny checkpoint over the OpenAI-compatible API on localhost and call it with the client. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { createRuntime } from '@karakoram/core';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { saveCheckpoint } from '@karakoram/model/node';
import { OpenAICompatibleProvider, startServer } from '@karakoram/llm';

registerCpu();
await createRuntime({ backend: 'cpu' });
const dir = await mkdtemp(join(tmpdir(), 'karakoram-example-llm-'));
const modelDir = join(dir, 'tiny-chat');
const model = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: 261, max_position_embeddings: 1024 }), { seed: 1 });
await saveCheckpoint(modelDir, model.config, model.stateDict(), { dtype: 'F32' });
model.dispose();

const server = await startServer({ model: modelDir, port: 0 });
try {
  const client = new OpenAICompatibleProvider({ baseURL: `${server.url}/v1`, model: 'tiny-chat', apiKey: 'unused', maxRetries: 0 });
  const res = await client.chat({ messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 8, temperature: 0 });
  console.log(`${server.url} answered ${JSON.stringify(res.choices[0]!.message.content)} (${res.usage?.completion_tokens} tokens, untrained model)`);
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
