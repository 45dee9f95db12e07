/**
 * Scale-out: the same stages as BullMQ jobs over Redis.
 *
 * The collecting side (`runRephraseQueue`) reads the input, skips finished pairs (the same
 * resumable files as the in-process run), enqueues one job per (source_id, index) with a
 * deterministic job id, waits for the results and writes them with the same writer, then
 * removes each written job. Workers (`startRephraseWorkers`, in this process with `workers` > 0
 * or on other machines) run `Rephraser.rephrase` per job.
 *
 * Idempotent by document id: the job id is `${source_id}#${index}` (BullMQ forbids ':' in custom
 * ids, so ':' and '%' in a source id are percent-encoded), so re-enqueueing a pair that is queued,
 * running or finished-but-not-yet-written adds nothing and its existing result is collected; a
 * job that failed for good in an earlier run is removed and enqueued afresh. Provider failures
 * are retried by BullMQ (`queue.attempts`, exponential backoff from `queue.backoffMs`) on top of
 * the provider's own retries; a job failing for good fails the run, keeping what was written.
 * BullMQ's limiter caps jobs a minute across all workers of the queue (`queue.jobsPerMinute`,
 * default the provider's requestsPerMinute): a job is one rephrasing, i.e. several requests.
 * BullMQ is imported only when a queue run starts.
 */
import type { ConnectionOptions, Job, Queue, QueueEvents, Worker } from 'bullmq';
import { KarakoramError } from '@karakoram/core';
import type { RephraseConfig } from './config.js';
import { rejectsPath } from './config.js';
import { Rephraser, RunFiles, pendingTasks, progressFor, strictPrescan, type Outcome, type RephraseSummary, type RunOptions } from './pipeline.js';
import { buildProviders, chunkTokenizer } from './providers.js';
import { countRecords } from './reader.js';

/** The payload of one rephrase job: the document and which rephrasing of it. */
export interface JobData {
  doc: { id: string; text: string };
  index: number;
}

/** redis://[user:password@]host[:port][/db] → ioredis options (BullMQ needs maxRetriesPerRequest null). */
export function redisConnection(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KarakoramError('config', `not a Redis URL: "${url}" (expected redis://host:port)`, '--queue');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new KarakoramError('config', `not a Redis URL: "${url}" (expected redis://host:port)`, '--queue');
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** A record id as a BullMQ custom job id (BullMQ forbids ':'): '%' and ':' percent-encoded. Shared with @karakoram/agentic. */
export const safeJobId = (id: string): string => id.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));

/** The BullMQ job id of one (document, index). */
export const jobIdFor = (sourceId: string, index: number): string => `${safeJobId(sourceId)}#${index}`;

/** Waits until a BullMQ Queue, QueueEvents or Worker is connected, or fails naming the Redis URL. Shared with @karakoram/agentic. */
export async function waitReady(what: Queue | QueueEvents | Worker, url: string, timeoutMs = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      what.waitUntilReady(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new KarakoramError('queue', `cannot reach Redis at ${url} within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** How startWorkers runs a queue's workers in this process. */
export interface WorkerOptions {
  /** redis://host:port */
  redis: string;
  /** Workers to start. */
  workers: number;
  /** Jobs each worker runs at once. */
  concurrency: number;
  /** BullMQ rate limit shared by the workers (max jobs per duration ms). */
  limiter?: { max: number; duration: number };
  log?: (s: string) => void;
}

/**
 * Starts `opts.workers` BullMQ workers on queue `name` running `handler`, logs retried attempts
 * and worker errors, and resolves once every worker reaches Redis. Shared with @karakoram/agentic.
 */
export async function startWorkers<D, R>(name: string, handler: (job: Job<D>) => Promise<R>, opts: WorkerOptions): Promise<Worker<D, R>[]> {
  const { Worker } = await import('bullmq');
  const connection = redisConnection(opts.redis);
  const workers: Worker<D, R>[] = [];
  for (let i = 0; i < opts.workers; i++) {
    const w = new Worker<D, R>(name, handler, { connection, concurrency: opts.concurrency, ...(opts.limiter ? { limiter: opts.limiter } : {}) });
    w.on('failed', (job, err) => {
      if (job && job.attemptsMade < (job.opts.attempts ?? 1)) opts.log?.(`job ${job.id} attempt ${job.attemptsMade} failed (will retry): ${err.message}`);
    });
    w.on('error', (err) => opts.log?.(`worker error: ${err.message}`));
    workers.push(w);
  }
  await Promise.all(workers.map((w) => waitReady(w, opts.redis)));
  return workers;
}

/** Options of a queue (BullMQ) run. */
export interface QueueOptions extends RunOptions {
  /** redis://host:port */
  redis: string;
  /** Workers to run in this process (default 1; 0: workers run elsewhere). */
  workers?: number;
}

/** Starts `workers` BullMQ workers for the config's queue in this process. */
export async function startRephraseWorkers(cfg: RephraseConfig, opts: { redis: string; workers: number; log?: (s: string) => void }): Promise<{ workers: Worker[];
  /** Closes the workers, then the providers. */
  close(): Promise<void> }> {
  const providers = await buildProviders(cfg);
  const rephraser = new Rephraser(cfg, providers.provider, providers.judge, await chunkTokenizer(cfg.tokenizer));
  const perMinute = cfg.queue.jobsPerMinute ?? (cfg.provider.kind === 'openai' ? cfg.provider.requestsPerMinute : undefined);
  const limiter = perMinute ? { max: Math.max(1, Math.floor(perMinute)), duration: 60_000 } : undefined;
  const workers = await startWorkers<JobData, Outcome>(cfg.queue.name, async (job) => rephraser.rephrase(job.data.doc, job.data.index), {
    redis: opts.redis, workers: opts.workers, concurrency: cfg.concurrency, ...(limiter ? { limiter } : {}), ...(opts.log ? { log: opts.log } : {}),
  });
  return {
    workers,
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
      providers.close();
    },
  };
}

/** The collecting side of a queue run (plus `workers` local workers); same files and summary as runRephrase. */
export async function runRephraseQueue(cfg: RephraseConfig, opts: QueueOptions): Promise<RephraseSummary> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const t0 = Date.now();
  await strictPrescan(cfg);
  const { Queue, QueueEvents } = await import('bullmq');
  const connection = redisConnection(opts.redis);
  const queue = new Queue<JobData, Outcome>(cfg.queue.name, { connection });
  const events = new QueueEvents(cfg.queue.name, { connection });
  let files: RunFiles | undefined;
  let workers: { close(): Promise<void> } | undefined;
  try {
    await waitReady(queue, opts.redis);
    await waitReady(events, opts.redis);
    files = RunFiles.open(cfg);
    const f = files;
    const truncatedBytes = f.out.truncatedBytes + f.rejects.truncatedBytes;
    if (truncatedBytes) log(`resume: cut a partial last line (${truncatedBytes} bytes) left by an interrupted run`);
    if (f.finishedBefore) log(`resume: ${f.finishedBefore} rephrasing(s) already finished`);
    const n = opts.workers ?? 1;
    if (n > 0) workers = await startRephraseWorkers(cfg, { redis: opts.redis, workers: n, log });
    const progress = progressFor(cfg, await countRecords(cfg.input), opts);
    const counts = { docs: 0, skipped: 0 };
    const jobOpts = { attempts: cfg.queue.attempts, backoff: { type: 'exponential', delay: cfg.queue.backoffMs }, removeOnComplete: false, removeOnFail: false };
    let window: Promise<void>[] = [];
    let fatal: unknown;
    const drain = async (): Promise<void> => {
      await Promise.all(window);
      window = [];
      if (fatal) throw fatal;
    };
    for await (const { doc, index } of pendingTasks(cfg, f, counts)) {
      const jobId = jobIdFor(doc.id, index);
      const old = await queue.getJob(jobId);
      if (old && (await old.getState()) === 'failed') await old.remove();
      const job = await queue.add('rephrase', { doc: { id: doc.id, text: doc.text }, index }, { ...jobOpts, jobId });
      window.push(
        job.waitUntilFinished(events).then(
          async (o: Outcome) => {
            f.write(o);
            progress.tick(o.usage);
            await job.remove().catch(() => undefined);
          },
          (e: Error) => {
            fatal ??= new KarakoramError('queue', `job ${jobId} failed after ${cfg.queue.attempts} attempt(s): ${e.message}`);
          },
        ),
      );
      if (window.length >= cfg.queue.window) await drain();
    }
    await drain();
    return {
      docs: counts.docs, written: f.written, dropped: f.dropped, skipped: counts.skipped, malformed: f.malformed,
      promptTokens: progress.usage.prompt, completionTokens: progress.usage.completion, seconds: (Date.now() - t0) / 1000,
      output: cfg.output, rejects: rejectsPath(cfg), truncatedBytes,
    };
  } finally {
    await workers?.close();
    files?.close();
    await events.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
  }
}
