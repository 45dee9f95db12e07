import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRuntime, type Runtime } from '@karakoram/core';
import { ByteTokenizer, DeepseekV3ForCausalLM, type Tokenizer } from '@karakoram/model';
import { loadCheckpointDir, loadTokenizerDir } from '@karakoram/model/node';

/** Creates the runtime for a command's --backend flag (registered backends, or installed packages). */
export async function runtimeFor(backend: string | undefined): Promise<Runtime> {
  return createRuntime({ backend: backend ?? 'cpu' });
}

/** Loads an HF checkpoint directory into a model on the current backend, refusing mismatches. */
export async function loadModel(dir: string): Promise<DeepseekV3ForCausalLM> {
  const { config, tensors } = await loadCheckpointDir(dir);
  const model = new DeepseekV3ForCausalLM(config, { seed: 0 });
  try {
    model.loadStateDict(tensors, dir);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return model;
}

/**
 * The tokenizer a checkpoint directory carries (tokenizer.json or tiktoken.model); a model
 * trained here on bytes says so in karakoram_tokenizer.json; otherwise bytes.
 */
export async function tokenizerFor(dir: string): Promise<Tokenizer> {
  if (existsSync(join(dir, 'tokenizer.json')) || existsSync(join(dir, 'tiktoken.model'))) return loadTokenizerDir(dir);
  const note = join(dir, 'karakoram_tokenizer.json');
  if (existsSync(note)) {
    const { tokenizer } = JSON.parse(await readFile(note, 'utf8')) as { tokenizer: string };
    if (tokenizer !== 'byte') return loadTokenizerDir(tokenizer);
  }
  return new ByteTokenizer();
}
