import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedis, requireRedis, startRedis, type RedisServer } from '../../data-rephrase/test/redis.js';
import { startServer, type RunningServer } from '@karakoram/llm';
import { redisConnection } from '@karakoram/data-rephrase';
import { ScriptedProvider, parseSynthConfig, readRecords, runSynth, runSynthQueue, startSynthWorkers, synthPaths, trajectoryJobId, type AgentSpec, type SynthConfigInput, type TaskSpec, type Trajectory } from '../src/index.js';
import { readJsonlFile, tempDir } from './helpers.js';

/**
 * The trajectory stage as BullMQ jobs (jobId = task id) on a real Redis: a redis-server started
 * here, workers in this process, the LLM served over HTTP by startServer. Without redis-server on
 * PATH this fails under CI and is skipped (loudly) elsewhere.
 */
requireRedis('the agentic BullMQ tests');

let dir: string;
let redis: RedisServer | undefined;
let redisUrl: string;
let server: RunningServer;

beforeAll(async () => {
  if (!haveRedis) return;
  dir = await tempDir('queue');
  redis = await startRedis(dir);
  redisUrl = redis.url;
  // An LLM whose every answer is plain text (no JSON, no calls): the templated, forced, rules path.
  server = await startServer({ provider: new ScriptedProvider((_req, n) => ({ content: `reply ${n % 3}` }), 'plain'), port: 0 });
});
afterAll(async () => {
  await server?.close();
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const config = (name: string, extra: Partial<SynthConfigInput> = {}) =>
  parseSynthConfig({
    out: join(dir, name),
    providers: { default: { kind: 'openai', baseURL: `${server.url}/v1`, model: 'plain', apiKey: 'x', maxRetries: 0 } },
    llm: { jsonAttempts: 1 },
    synthetic: { categories: ['shop', 'travel'], domainsPerCategory: 1, toolsPerDomain: 3 },
    agents: { count: 3, toolsPerAgent: 3 },
    tasks: { perAgent: 2 },
    trajectories: { maxTurns: 3, forceToolCalls: true, concurrency: 2 },
    toolSimulator: { useLlm: false, failureRate: 0.2 },
    judge: { onUnparsable: 'rules' },
    queue: { name: `test-${name}`, backoffMs: 10 },
    progress: false,
    ...extra,
  });

const pick = (t: Trajectory) => ({ id: t.id, calls: t.calls, termination: t.termination, turns: t.turns, finalState: t.finalState, roles: t.messages.map((m) => m.role) });

describe.skipIf(!haveRedis)('agentic synthesis on BullMQ over a real Redis', () => {
  it('gives the same trajectories as the in-process run, and resumes', async () => {
    await runSynth(config('local'), { log: () => undefined });
    const q = await runSynthQueue(config('queued'), { redis: redisUrl, workers: 2, log: () => undefined });
    expect(q.stages.trajectories).toMatchObject({ written: 6, failed: 0 });
    const a = (await readJsonlFile<Trajectory>(synthPaths(config('local')).trajectories)).map(pick).sort((x, y) => x.id.localeCompare(y.id));
    const b = (await readJsonlFile<Trajectory>(synthPaths(config('queued')).trajectories)).map(pick).sort((x, y) => x.id.localeCompare(y.id));
    expect(b.map((t) => t.id)).toEqual(['agent-0/task-0', 'agent-0/task-1', 'agent-1/task-0', 'agent-1/task-1', 'agent-2/task-0', 'agent-2/task-1']);
    expect(b).toEqual(a);
    expect(q.stats?.exported).toBeGreaterThan(0);
    // Resume: one more task per agent enqueues only the new ones.
    const more = await runSynthQueue(config('queued', { tasks: { perAgent: 3 } }), { redis: redisUrl, workers: 1, log: () => undefined });
    expect(more.stages.trajectories).toMatchObject({ written: 3, total: 9 });
  });

  it('is idempotent by job id (= task id): a job finished but not yet written is collected, not rerun', async () => {
    const cfg = config('idem', { agents: { count: 1, toolsPerAgent: 3 }, tasks: { perAgent: 2 } });
    await runSynth({ ...cfg, stages: ['tools', 'agents', 'tasks'] }, { log: () => undefined });
    const p = synthPaths(cfg);
    const tasks = await readRecords<TaskSpec>(p.tasks);
    const agent = (await readRecords<AgentSpec>(p.agents))[0]!;
    const { Queue, QueueEvents } = await import('bullmq');
    const connection = redisConnection(redisUrl);
    const events = new QueueEvents(cfg.queue.name, { connection });
    await events.waitUntilReady();
    const active = new Map<string, number>();
    events.on('active', ({ jobId }) => active.set(jobId, (active.get(jobId) ?? 0) + 1));
    // An earlier collector enqueued task-0 and died; a worker finished it.
    const queue = new Queue(cfg.queue.name, { connection });
    const w = await startSynthWorkers(cfg, { redis: redisUrl, workers: 1 });
    const job = await queue.add('trajectory', { task: tasks[0], agent }, { jobId: trajectoryJobId(tasks[0]!.id) });
    const earlier = (await job.waitUntilFinished(events)) as { trajectory: Trajectory };
    await w.close();
    const s = await runSynthQueue({ ...cfg, stages: ['trajectories'] }, { redis: redisUrl, workers: 1, log: () => undefined });
    expect(s.stages.trajectories).toMatchObject({ written: 2 });
    const out = await readJsonlFile<Trajectory>(p.trajectories);
    expect(out.find((t) => t.id === tasks[0]!.id)).toEqual(earlier.trajectory);
    await new Promise((r) => setTimeout(r, 100));
    expect(Object.fromEntries(active)).toEqual({ [trajectoryJobId(tasks[0]!.id)]: 1, [trajectoryJobId(tasks[1]!.id)]: 1 });
    expect(await queue.getJob(trajectoryJobId(tasks[0]!.id))).toBeUndefined();
    await queue.close();
    await events.close();
  });
});
