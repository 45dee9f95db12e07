import { basename, resolve } from 'node:path';
import { KarakoramError, createRuntime } from '@karakoram/core';
import type { DeepseekV3ForCausalLM } from '@karakoram/model';
import { checkpointTokenizer, loadModelDir } from '@karakoram/model/node';
import { LocalModelProvider, type LocalModelProviderOptions } from './local.js';

/** The tokenizer rule shared with the CLI (tokenizer.json, tiktoken.model, or bytes). */
export { checkpointTokenizer };

/** A provider over a checkpoint loaded from disk, with its model. */
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
  const model = await loadModelDir(dir);
  const config = model.config;
  const tokenizer = await checkpointTokenizer(dir);
  if (tokenizer.vocabSize > config.vocab_size) {
    model.dispose();
    throw new KarakoramError('config', `the tokenizer has ${tokenizer.vocabSize} ids but the model's vocab_size is ${config.vocab_size}`, dir);
  }
  const provider = new LocalModelProvider(model, tokenizer, { ...opts, modelName: opts.modelName ?? basename(resolve(dir)) });
  return { provider, model, dispose: () => model.dispose() };
}
