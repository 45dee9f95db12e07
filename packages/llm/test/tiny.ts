import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from '@karakoram/backend-cpu';
import { createRuntime } from '@karakoram/core';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { saveCheckpoint } from '@karakoram/model/node';

/** A random tiny model over the byte tokenizer (vocab 261), saved as an HF checkpoint in a temp dir. */
export async function tinyCheckpoint(): Promise<string> {
  register();
  await createRuntime({ backend: 'cpu' });
  const dir = join(await mkdtemp(join(tmpdir(), 'karakoram-llm-')), 'tiny-chat');
  const model = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: 261, max_position_embeddings: 1024 } as never), { seed: 1 });
  await saveCheckpoint(dir, model.config, model.stateDict(), { dtype: 'F32' });
  model.dispose();
  return dir;
}
