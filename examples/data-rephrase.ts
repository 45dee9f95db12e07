/** @karakoram/data-rephrase: rephrase two documents through a local OpenAI-compatible server (a tiny untrained model). */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { createRuntime } from '@karakoram/core';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { saveCheckpoint } from '@karakoram/model/node';
import { startServer } from '@karakoram/llm';
import { parseRephraseConfig, runRephrase } from '@karakoram/data-rephrase';

registerCpu();
await createRuntime({ backend: 'cpu' });
const dir = await mkdtemp(join(tmpdir(), 'karakoram-example-rephrase-'));
const modelDir = join(dir, 'tiny-rephraser');
const model = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: 261, max_position_embeddings: 2048 }), { seed: 7 });
await saveCheckpoint(modelDir, model.config, model.stateDict(), { dtype: 'F32' });
model.dispose();
const server = await startServer({ model: modelDir, port: 0 });
try {
  const docs = [
    { id: 'lovelace', text: 'Ada Lovelace wrote the first published program in 1843.' },
    { id: 'turing', text: 'Alan Turing described his machine in 1936.' },
  ];
  await writeFile(join(dir, 'corpus.jsonl'), docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  const cfg = parseRephraseConfig({
    input: join(dir, 'corpus.jsonl'),
    output: join(dir, 'rephrased.jsonl'),
    provider: { kind: 'openai', baseURL: `${server.url}/v1`, model: 'tiny-rephraser', apiKey: 'unused', maxRetries: 1 },
    rephrasings: 1,
    chunkTokens: 96,
    contextTokens: 48,
    sampling: { temperature: 0, maxTokens: 10 },
    verify: { judge: 'checks', enforce: false },
    progress: false,
  });
  const s = await runRephrase(cfg, { log: () => {} });
  const first = JSON.parse((await readFile(cfg.output, 'utf8')).split('\n')[0]!) as { id: string; template: string; text: string };
  console.log(`${s.docs} documents, ${s.written} rephrasings written; first: ${first.id} (${first.template}): ${JSON.stringify(first.text)}`);
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
