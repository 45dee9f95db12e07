/** A tokenizer from a model directory (Node only): tokenizer.json if present, else Kimi's tiktoken.model. */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KarakoramError } from '@karakoram/core';
import { HfJsonTokenizer } from './hf.js';
import { kimiTokenizer } from './tiktoken.js';
import type { Tokenizer, TokenizerConfigJson } from './types.js';

const exists = async (p: string): Promise<boolean> => (await stat(p).catch(() => undefined))?.isFile() === true;

/**
 * Loads the tokenizer in an HF model directory: tokenizer.json if present, else Kimi's
 * tiktoken.model, with specials and bos/eos from tokenizer_config.json when it exists.
 */
export async function loadTokenizerDir(dir: string): Promise<Tokenizer> {
  const cfgPath = join(dir, 'tokenizer_config.json');
  let config: TokenizerConfigJson = {};
  if (await exists(cfgPath)) {
    try {
      config = JSON.parse(await readFile(cfgPath, 'utf8')) as TokenizerConfigJson;
    } catch (e) {
      throw new KarakoramError('tokenizer', `not JSON (${(e as Error).message})`, cfgPath);
    }
  }
  const json = join(dir, 'tokenizer.json');
  if (await exists(json)) return new HfJsonTokenizer(await readFile(json, 'utf8'), config, json);
  const tk = join(dir, 'tiktoken.model');
  if (await exists(tk)) return kimiTokenizer(await readFile(tk, 'utf8'), config, tk);
  throw new KarakoramError('tokenizer', 'no tokenizer.json or tiktoken.model', dir);
}
