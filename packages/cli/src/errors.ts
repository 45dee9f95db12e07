import { KarakoramError } from '@karakoram/core';

/**
 * Turns any failure into one clear line (plus the list a mismatch or config error carries),
 * never a stack trace from deep inside, unless KARAKORAM_DEBUG is set.
 */
export function reportError(e: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (process.env.KARAKORAM_DEBUG) write(`${(e as Error)?.stack ?? String(e)}\n`);
  if (e instanceof KarakoramError) {
    write(`karakoram: error: ${e.message}\n`);
    return 2;
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT' && err.path) {
    write(`karakoram: error: no such file: ${err.path}\n`);
    return 2;
  }
  if (err instanceof SyntaxError) {
    write(`karakoram: error: ${err.message}\n`);
    return 2;
  }
  write(`karakoram: unexpected error: ${err?.message ?? String(e)} (set KARAKORAM_DEBUG=1 for the stack)\n`);
  return 1;
}
