/**
 * A whole model directory (Node only): an HF checkpoint loaded into a DeepseekV3ForCausalLM, and
 * the tokenizer that goes with it. Shared by the CLI, the OpenAI-compatible server and training.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCheckpointDir } from './checkpoint/dir.js';
import { loadTokenizerDir } from './tokenizer/dir.js';
import { ByteTokenizer } from './tokenizer/byte.js';
import type { Tokenizer } from './tokenizer/types.js';
import { DeepseekV3ForCausalLM } from './transformer.js';

/**
 * Loads an HF checkpoint directory into a model on the current backend. Every tensor is checked
 * against the config first; on any mismatch nothing is kept and the error lists them all.
 */
export async function loadModelDir(dir: string, opts: { seed?: number } = {}): Promise<DeepseekV3ForCausalLM> {
  const { config, tensors } = await loadCheckpointDir(dir);
  const model = new DeepseekV3ForCausalLM(config, { seed: opts.seed ?? 0 });
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
export async function checkpointTokenizer(dir: string): Promise<Tokenizer> {
  if (existsSync(join(dir, 'tokenizer.json')) || existsSync(join(dir, 'tiktoken.model'))) return loadTokenizerDir(dir);
  const note = join(dir, 'karakoram_tokenizer.json');
  if (existsSync(note)) {
    const { tokenizer } = JSON.parse(await readFile(note, 'utf8')) as { tokenizer: string };
    if (tokenizer !== 'byte') return loadTokenizerDir(tokenizer);
  }
  return new ByteTokenizer();
}
