import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type LocalModelProvider, type RunningServer } from '@karakoram/llm';
import { parseRephraseConfig, runRephrase, type RejectRecord, type RephraseConfigInput, type RephraseRecord } from '../src/index.js';
import { corpus, fastSettings, freePort, readJsonlFile, tempDir, tinyCheckpoint, writeJsonl } from './helpers.js';

/**
 * The pipeline end to end over real HTTP: `startServer` (what `karakoram serve` runs) on a tiny
 * checkpoint made here, the pipeline talking to it through OpenAICompatibleProvider. The model's
 * text is gibberish, so verification is recorded, not enforced; the judge still runs over HTTP.
 */
let dir: string;
let server: RunningServer;
beforeAll(async () => {
  dir = await tempDir('e2e');
  server = await startServer({ model: await tinyCheckpoint(dir), port: 0, batchWaitMs: 10 });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const config = (name: string, extra: Partial<RephraseConfigInput> = {}) =>
  parseRephraseConfig({
    ...fastSettings,
    input: join(dir, 'corpus.jsonl'),
    output: join(dir, `${name}.jsonl`),
    provider: { kind: 'openai', baseURL: `${server.url}/v1`, model: 'tiny-rephraser', apiKey: 'unused', maxRetries: 1, backoffBaseMs: 10 },
    rephrasings: 2,
    concurrency: 4,
    ...extra,
  });

describe('rephrasing through karakoram serve over HTTP', () => {
  it('rephrases a small corpus with an LLM judge, reporting malformed lines, with provenance', async () => {
    const docs = corpus(3);
    await writeJsonl(join(dir, 'corpus.jsonl'), [docs[0], '{"id": "broken", "text": ', docs[1], { id: 'no-text' }, docs[2]]);
    const cfg = config('out', { verify: { ...fastSettings.verify, judge: 'llm' }, chunkTokens: 48, contextTokens: 32 });
    const logs: string[] = [];
    const s = await runRephrase(cfg, { log: (l) => logs.push(l) });
    expect(s).toMatchObject({ docs: 3, written: 6, dropped: 0, skipped: 0, malformed: 2 });
    expect(s.promptTokens).toBeGreaterThan(0);
    expect(s.completionTokens).toBeGreaterThan(0);
    const out = await readJsonlFile<RephraseRecord>(cfg.output);
    expect(out.map((r) => r.id).sort()).toEqual(['doc-0:0', 'doc-0:1', 'doc-1:0', 'doc-1:1', 'doc-2:0', 'doc-2:1']);
    for (const r of out) {
      expect(r.source_id).toBe(r.id.split(':')[0]);
      expect(['short-encyclopedic', 'short-qa', 'short-child']).toContain(r.template);
      expect(r.chunk_count).toBeGreaterThanOrEqual(1);
      expect(['pass', 'fail']).toContain(r.verdict);
      expect(r.checks.numbers.total).toBeGreaterThan(0);
      expect(typeof r.text).toBe('string');
      expect(r.usage.prompt_tokens).toBeGreaterThan(0);
    }
    // Documents long enough for several chunks were rewritten chunk by chunk.
    expect(out.some((r) => r.chunk_count > 1)).toBe(true);
    // The gibberish judge cannot produce a JSON verdict: recorded as a judge failure.
    expect(out.every((r) => r.verdict === 'fail' && r.reasons.some((x) => x.startsWith('judge:')))).toBe(true);
    // Two indices of one document use different templates.
    expect(out.find((r) => r.id === 'doc-0:0')!.template).not.toBe(out.find((r) => r.id === 'doc-0:1')!.template);
    const rejects = await readJsonlFile<RejectRecord>(s.rejects);
    expect(rejects).toEqual([
      expect.objectContaining({ kind: 'malformed', line: 2, error: expect.stringMatching(/invalid JSON/) }),
      expect.objectContaining({ kind: 'malformed', line: 4, error: 'missing "text"' }),
    ]);
    // Requests were batched by the server's micro-batcher.
    expect(Math.max(...(server.provider as LocalModelProvider).batchSizes)).toBeGreaterThan(1);

    // A rerun finds everything done and reports nothing twice.
    const again = await runRephrase(cfg, { log: () => undefined });
    expect(again).toMatchObject({ written: 0, skipped: 6, malformed: 2 });
    expect((await readJsonlFile(cfg.output)).length).toBe(6);
    expect((await readJsonlFile(s.rejects)).length).toBe(2);
  });

  it('fails a strict run at the first malformed line, before any work', async () => {
    const cfg = config('strict', { strict: true });
    await expect(runRephrase(cfg, { log: () => undefined })).rejects.toThrow(/corpus\.jsonl: line 2: invalid JSON/);
    await expect(readJsonlFile(cfg.output)).rejects.toThrow(/ENOENT/);
  });

  it('drops rewrites that fail enforced verification, with reasons, after maxAttempts', async () => {
    await writeJsonl(join(dir, 'corpus.jsonl'), corpus(1));
    const cfg = config('enforced', { rephrasings: 1, maxAttempts: 2, verify: { judge: 'checks', enforce: true } });
    const s = await runRephrase(cfg, { log: () => undefined });
    expect(s).toMatchObject({ written: 0, dropped: 1 });
    const [d] = await readJsonlFile<RejectRecord>(s.rejects);
    expect(d).toMatchObject({ kind: 'dropped', id: 'doc-0:0', attempts: 2 });
    expect((d as { reasons: string[] }).reasons.join(' ')).toMatch(/failed verification 2 time\(s\).*numbers missing/);
  });
});

describe('provider failures stop the run with a clear error', () => {
  let failing: Server;
  let url: string;
  beforeAll(async () => {
    let n = 0;
    failing = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        n++;
        if (n % 2) {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end('{"error": {"message": "model overloaded"}}');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"choices": [{"message": ');
        }
      });
    });
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/v1`;
    await writeJsonl(join(dir, 'corpus.jsonl'), corpus(2));
  });
  afterAll(async () => {
    await new Promise((r) => (failing.close(r), failing.closeAllConnections()));
  });

  it('an unreachable provider (a closed port)', async () => {
    const port = await freePort();
    const cfg = config('unreachable', { provider: { kind: 'openai', baseURL: `http://127.0.0.1:${port}/v1`, model: 'm', maxRetries: 2, backoffBaseMs: 5, backoffMaxMs: 20 } });
    await expect(runRephrase(cfg, { log: () => undefined })).rejects.toThrow(
      new RegExp(`provider at http://127.0.0.1:${port}/v1/chat/completions failed after 3 attempts: last network error: .*ECONNREFUSED`),
    );
    expect(await readJsonlFile(cfg.output)).toEqual([]);
  });

  it('a provider answering 503 and malformed JSON', async () => {
    const cfg = config('failing', { concurrency: 1, provider: { kind: 'openai', baseURL: url, model: 'm', maxRetries: 3, backoffBaseMs: 5, backoffMaxMs: 20 } });
    await expect(runRephrase(cfg, { log: () => undefined })).rejects.toThrow(/failed after 4 attempts: last malformed JSON response: \{"choices": \[\{"message": /);
    const cfg2 = config('failing2', { concurrency: 1, provider: { kind: 'openai', baseURL: url, model: 'm', maxRetries: 2, backoffBaseMs: 5, backoffMaxMs: 20 } });
    await expect(runRephrase(cfg2, { log: () => undefined })).rejects.toThrow(/failed after 3 attempts: last status 503 Service Unavailable: model overloaded/);
  });
});
