import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { KarakoramError, createRuntime } from '@karakoram/core';
import { ByteTokenizer, DeepseekV3ForCausalLM, type Tokenizer } from '@karakoram/model';
import { loadCheckpointDir, loadTokenizerDir } from '@karakoram/model/node';
import { LocalModelProvider, type LocalModelProviderOptions } from './local.js';

/**
 * The tokenizer a checkpoint directory carries (tokenizer.json or tiktoken.model); a model trained
 * here on bytes says so in karakoram_tokenizer.json; otherwise bytes. (The CLI's rule.)
 */
export async function checkpointTokenizer(dir: string): Promise<Tokenizer> {
  if (existsSync(join(dir, 'tokenizer.json')) || existsSync(join(dir, 'tiktoken.model'))) return loadTokenizerDir(dir);
  const note = join(dir, 'karakoram_tokenizer.json');
  if (existsSync(note)) {
    const { tokenizer } = JSON.parse(await readFile(note, 'utf8')) as { tokenizer: string };
    if (tokenizer !== 'byte') return loadTokenizerDir(tokenizer);
  }
  return new ByteTokenizer();
}

export interface LoadedLocalProvider {
  provider: LocalModelProvider;
  model: DeepseekV3ForCausalLM;
  /** Frees the model's tensors. */
  dispose(): void;
}

/**
 * Loads an HF checkpoint directory and its tokenizer into a LocalModelProvider. With `backend`,
 * creates that runtime first; otherwise the current backend is used. The model name defaults
 * to the directory's name.
 */
export async function loadLocalProvider(dir: string, opts: LocalModelProviderOptions & { backend?: string } = {}): Promise<LoadedLocalProvider> {
  if (opts.backend) await createRuntime({ backend: opts.backend });
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
  const tokenizer = await checkpointTokenizer(dir);
  if (tokenizer.vocabSize > config.vocab_size) {
    model.dispose();
    throw new KarakoramError('config', `the tokenizer has ${tokenizer.vocabSize} ids but the model's vocab_size is ${config.vocab_size}`, dir);
  }
  const provider = new LocalModelProvider(model, tokenizer, { ...opts, modelName: opts.modelName ?? basename(resolve(dir)) });
  return { provider, model, dispose: () => model.dispose() };
}
