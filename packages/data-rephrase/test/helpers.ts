import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from '@karakoram/backend-cpu';
import { createRuntime } from '@karakoram/core';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { saveCheckpoint } from '@karakoram/model/node';
import type { RephraseConfigInput } from '../src/index.js';

export const tempDir = (tag: string): Promise<string> => mkdtemp(join(tmpdir(), `karakoram-rephrase-${tag}-`));

/** A random tiny model over the byte tokenizer (vocab 261), saved as an HF checkpoint. */
export async function tinyCheckpoint(dir: string, name = 'tiny-rephraser'): Promise<string> {
  register();
  await createRuntime({ backend: 'cpu' });
  const out = join(dir, name);
  const model = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: 261, max_position_embeddings: 2048 } as never), { seed: 7 });
  await saveCheckpoint(out, model.config, model.stateDict(), { dtype: 'F32' });
  model.dispose();
  return out;
}

/** A small corpus of short fact documents with numbers and names. */
export function corpus(n: number): { id: string; text: string }[] {
  const names = ['Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth', 'Claude Shannon', 'John McCarthy', 'Frances Allen', 'Ken Thompson'];
  return Array.from({ length: n }, (_, i) => ({
    id: `doc-${i}`,
    text: `${names[i % names.length]} wrote ${i + 3} papers in ${1940 + i}. The work was cited ${120 + 7 * i} times.${i % 3 === 0 ? `\nLater, a prize of ${i + 1},000 dollars followed.` : ''}`,
  }));
}

export const writeJsonl = (path: string, rows: unknown[]): Promise<void> => writeFile(path, rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
export const readJsonlFile = async <T = Record<string, unknown>>(path: string): Promise<T[]> =>
  (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

/** Settings that keep a tiny CPU model fast: short chunks and replies, greedy, cheap checks recorded but not enforced. */
export const fastSettings = {
  chunkTokens: 96,
  contextTokens: 48,
  customTemplates: [
    { name: 'short-encyclopedic', instruction: 'Encyclopedia style.' },
    { name: 'short-qa', instruction: 'Questions and answers.' },
    { name: 'short-child', instruction: 'For a child.' },
  ],
  sampling: { temperature: 0, maxTokens: 10 },
  verify: { judge: 'checks', enforce: false, judgeMaxTokens: 8 },
  progress: false,
} satisfies Partial<RephraseConfigInput>;

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs `node --import tsx --conditions=source fixtures/run-rephrase.ts CONFIG` (the pipeline as a child process). */
export function spawnRephrase(config: string, extra: string[] = []): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', '--conditions=source', join(__dirname, 'fixtures', 'run-rephrase.ts'), config, ...extra], {
    cwd: join(__dirname, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KARAKORAM_DEBUG: '' },
  });
}
