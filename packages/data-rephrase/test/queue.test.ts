import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { haveRedis, requireRedis, startRedis, type RedisServer } from './redis.js';
import { startServer, type RunningServer } from '@karakoram/llm';
import { RunFiles, jobIdFor, parseRephraseConfig, redisConnection, runRephrase, runRephraseQueue, startRephraseWorkers, type RephraseConfigInput, type RephraseRecord } from '../src/index.js';
import { corpus, fastSettings, readJsonlFile, tempDir, tinyCheckpoint, writeJsonl } from './helpers.js';

/**
 * Scale-out on a real Redis: a redis-server started here on a free port, BullMQ workers
 * rephrasing through `karakoram serve` over HTTP, and the same records as the in-process run.
 * Without redis-server on PATH this fails under CI and is skipped (loudly) elsewhere.
 */
requireRedis('the BullMQ tests');

let dir: string;
let redis: RedisServer | undefined;
let redisUrl: string;
let server: RunningServer;

beforeAll(async () => {
  if (!haveRedis) return;
  dir = await tempDir('queue');
  redis = await startRedis(dir);
  redisUrl = redis.url;
  server = await startServer({ model: await tinyCheckpoint(dir), port: 0, batchWaitMs: 10 });
});
afterAll(async () => {
  await server?.close();
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const config = (name: string, extra: Partial<RephraseConfigInput> = {}) =>
  parseRephraseConfig({
    ...fastSettings,
    input: join(dir, 'corpus.jsonl'),
    output: join(dir, `${name}.jsonl`),
    provider: { kind: 'openai', baseURL: `${server.url}/v1`, model: 'tiny-rephraser', apiKey: 'unused', maxRetries: 2, backoffBaseMs: 10, requestsPerMinute: 6000 },
    rephrasings: 2,
    concurrency: 3,
    queue: { name: `test-${name}`, backoffMs: 10 },
    ...extra,
  });

describe.skipIf(!haveRedis)('BullMQ over a real Redis', () => {
  it('gives the same records as the in-process run (temperature 0), and resumes', async () => {
    const docs = corpus(4);
    await writeJsonl(join(dir, 'corpus.jsonl'), [docs[0], docs[1], 'not json', docs[2], docs[3]]);
    const local = await runRephrase(config('local'), { log: () => undefined });
    const logs: string[] = [];
    const queued = await runRephraseQueue(config('queued'), { redis: redisUrl, workers: 2, log: (l) => logs.push(l) });
    expect(queued).toMatchObject({ docs: 4, written: 8, dropped: 0, skipped: 0, malformed: 1 });
    expect(local).toMatchObject({ written: 8, malformed: 1 });
    const pick = (r: RephraseRecord) => ({ id: r.id, source_id: r.source_id, index: r.index, template: r.template, chunk_count: r.chunk_count, verdict: r.verdict, checks: r.checks, text: r.text });
    const a = (await readJsonlFile<RephraseRecord>(config('local').output)).map(pick).sort((x, y) => x.id.localeCompare(y.id));
    const b = (await readJsonlFile<RephraseRecord>(config('queued').output)).map(pick).sort((x, y) => x.id.localeCompare(y.id));
    expect(b.map((r) => r.id)).toEqual(['doc-0:0', 'doc-0:1', 'doc-1:0', 'doc-1:1', 'doc-2:0', 'doc-2:1', 'doc-3:0', 'doc-3:1']);
    expect(b).toEqual(a);
    expect(new Set(b.map((r) => r.template)).size).toBeGreaterThan(1);

    // Resume: one more rephrasing per document enqueues only the new indices.
    const more = await runRephraseQueue(config('queued', { rephrasings: 3 }), { redis: redisUrl, workers: 1, log: () => undefined });
    expect(more).toMatchObject({ written: 4, skipped: 8 });
    const all = await readJsonlFile<RephraseRecord>(config('queued').output);
    expect(new Set(all.map((r) => r.id)).size).toBe(12);
  });

  it('is idempotent by job id: a job finished but not yet written is collected, not rerun', async () => {
    const docs = corpus(2);
    await writeJsonl(join(dir, 'corpus.jsonl'), docs);
    const cfg = config('idem', { rephrasings: 1 });
    const { Queue, QueueEvents } = await import('bullmq');
    const connection = redisConnection(redisUrl);
    const events = new QueueEvents(cfg.queue.name, { connection });
    await events.waitUntilReady();
    const active = new Map<string, number>();
    events.on('active', ({ jobId }) => active.set(jobId, (active.get(jobId) ?? 0) + 1));
    // An earlier run's worker finished doc-0#0, and that collector died before writing it.
    const q = new Queue(cfg.queue.name, { connection });
    const w = await startRephraseWorkers(cfg, { redis: redisUrl, workers: 1 });
    const job = await q.add('rephrase', { doc: docs[0], index: 0 }, { jobId: jobIdFor('doc-0', 0) });
    const earlier = (await job.waitUntilFinished(events)) as { record: RephraseRecord };
    await w.close();
    const s = await runRephraseQueue(cfg, { redis: redisUrl, workers: 1, log: () => undefined });
    expect(s).toMatchObject({ written: 2, skipped: 0 });
    const out = await readJsonlFile<RephraseRecord>(cfg.output);
    expect(out.map((r) => r.id).sort()).toEqual(['doc-0:0', 'doc-1:0']);
    expect(out.find((r) => r.id === 'doc-0:0')).toEqual(earlier.record);
    await new Promise((r) => setTimeout(r, 100));
    expect(Object.fromEntries(active)).toEqual({ 'doc-0#0': 1, 'doc-1#0': 1 });
    // Written jobs are removed from Redis.
    expect(await q.getJob('doc-0#0')).toBeUndefined();
    await q.close();
    await events.close();
  });

  it('refuses a second run on the same output while one is live', async () => {
    const cfg = config('idem', { rephrasings: 1 });
    const files = RunFiles.open(cfg);
    try {
      await expect(runRephraseQueue(cfg, { redis: redisUrl, workers: 1, log: () => undefined })).rejects.toThrow(/is being written by process \d+/);
    } finally {
      files.close();
    }
  });

  it('fails clearly when a job fails for good (unreachable provider)', async () => {
    // A port held for the test whose connections are dropped: no other test can take it (a closed
    // port from freePort could be reused by a server of a test file running alongside).
    const dead = createServer((sock) => sock.destroy());
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    onTestFinished(() => new Promise<void>((r) => dead.close(() => r())));
    const cfg = config('dead', { rephrasings: 1, queue: { name: 'test-dead', attempts: 2, backoffMs: 5 }, provider: { kind: 'openai', baseURL: `http://127.0.0.1:${port}/v1`, model: 'm', maxRetries: 1, backoffBaseMs: 5, backoffMaxMs: 10 } });
    await expect(runRephraseQueue(cfg, { redis: redisUrl, workers: 1, log: () => undefined })).rejects.toThrow(
      /job doc-0#0 failed after 2 attempt\(s\): provider at http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions failed after 2 attempts: last network error/,
    );
  });
});
