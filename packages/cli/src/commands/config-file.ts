import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { KarakoramError } from '@karakoram/core';

/**
 * Reads a JSON config file for a command: invalid JSON is one clear error naming the file, and
 * `abs` resolves paths written in the file relative to the file's folder.
 */
export async function readConfigFile(path: string): Promise<{ raw: unknown; abs: (p: string) => string }> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    if (e instanceof SyntaxError) throw new KarakoramError('config', `not valid JSON: ${e.message}`, path);
    throw e;
  }
  const base = dirname(resolve(path));
  return { raw, abs: (p) => (isAbsolute(p) ? p : resolve(base, p)) };
}
