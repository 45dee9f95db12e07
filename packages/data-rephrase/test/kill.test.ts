import { existsSync, readFileSync } from 'node:fs';
import { appendFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RephraseRecord } from '../src/index.js';
import { corpus, fastSettings, readJsonlFile, spawnRephrase, tempDir, tinyCheckpoint, writeJsonl } from './helpers.js';

/**
 * Crash safety: the pipeline runs in a child process (in-process provider: the tiny checkpoint),
 * is SIGKILLed mid-run, a torn last line is left behind, and a rerun completes the output with
 * exactly one record per (input id, index): nothing lost, nothing twice.
 */
let dir: string;
beforeAll(async () => {
  dir = await tempDir('kill');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = (path: string): number => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0);

describe('SIGKILL mid-run, then resume', () => {
  it('gives exactly one record per (id, index)', async () => {
    const model = await tinyCheckpoint(dir);
    const docs = corpus(8);
    await writeJsonl(join(dir, 'in.jsonl'), docs);
    const out = join(dir, 'out.jsonl');
    const cfg = join(dir, 'rephrase.json');
    await writeFile(cfg, JSON.stringify({ ...fastSettings, input: 'in.jsonl', output: 'out.jsonl', provider: { kind: 'local', model: 'tiny-rephraser' }, rephrasings: 2, concurrency: 2 }));

    const child = spawnRephrase(cfg);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const t0 = Date.now();
    while (lines(out) < 3) {
      if (child.exitCode !== null) throw new Error(`the run ended before it could be killed (code ${child.exitCode}): ${stderr}`);
      if (Date.now() - t0 > 90_000) throw new Error(`no progress: ${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGKILL');
    await exited;
    const before = lines(out);
    expect(before).toBeGreaterThanOrEqual(3);
    expect(before).toBeLessThan(16);
    // What a crash in the middle of a write leaves: a torn last line.
    await appendFile(out, '{"id":"doc-7:1","source_id":"doc-7","ind');

    const rerun = spawnRephrase(cfg);
    let rerunOut = '';
    let rerunErr = '';
    rerun.stdout!.on('data', (d) => (rerunOut += d));
    rerun.stderr!.on('data', (d) => (rerunErr += d));
    const code = await new Promise<number | null>((r) => rerun.on('exit', (c) => r(c)));
    expect(code, rerunErr).toBe(0);
    expect(rerunErr).toMatch(/resume: cut a partial last line/);
    const summary = JSON.parse(rerunOut.trim().split('\n').pop()!) as { written: number; skipped: number; truncatedBytes: number };
    expect(summary.skipped).toBe(before);
    expect(summary.written).toBe(16 - before);
    expect(summary.truncatedBytes).toBeGreaterThan(0);

    const records = await readJsonlFile<RephraseRecord>(out);
    const keys = records.map((r) => `${r.source_id}:${r.index}`);
    expect(keys.length).toBe(16);
    expect(new Set(keys).size).toBe(16);
    expect(new Set(keys)).toEqual(new Set(docs.flatMap((d) => [`${d.id}:0`, `${d.id}:1`])));
    expect(records.every((r) => r.id === `${r.source_id}:${r.index}`)).toBe(true);
  }, 180_000);
});
