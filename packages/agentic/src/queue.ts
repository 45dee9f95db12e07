/**
 * Scale-out: the trajectory stage as BullMQ jobs over Redis, on the rephrasing pipeline's queue
 * machinery (@karakoram/data-rephrase: redisConnection, waitReady, safeJobId, startWorkers).
 *
 * The collecting side (`runSynthQueue`) runs the other stages in process and, for trajectories,
 * enqueues one job per pending task with jobId = the task id (safeJobId-encoded), so re-enqueueing
 * a task that is queued, running or finished-but-unwritten adds nothing and its result is
 * collected; a job that failed for good in an earlier run is removed and enqueued afresh. Results
 * are written with the same resumable files as the in-process run, then the job is removed. A job
 * that fails for good (after `queue.attempts`) is a final failure of its task; the run goes on.
 * Workers (`startSynthWorkers`, here with `workers` > 0 or on other machines) run the episode.
 */
import type { Job, Worker } from 'bullmq';
import { redisConnection, safeJobId, startWorkers, waitReady } from '@karakoram/data-rephrase';
import type { SynthConfig } from './config.js';
import { runSynth, SynthContext, type SynthRunOptions, type SynthSummary } from './pipeline.js';
import type { StageFiles } from './stage-io.js';
import type { AgentSpec } from './stages/agents.js';
import type { TaskSpec } from './stages/tasks.js';
import { writeOutcome, type EpisodeHooks, type EpisodeOutcome, type Trajectory } from './stages/trajectories.js';

/** The payload of one trajectory job: the task and the agent that runs it. */
export interface TrajectoryJobData {
  task: TaskSpec;
  agent: AgentSpec;
}

/** The BullMQ job id of a task's trajectory job. */
export const trajectoryJobId = (taskId: string): string => safeJobId(taskId);

/** Starts `workers` BullMQ workers running episodes for the config's queue. */
export async function startSynthWorkers(cfg: SynthConfig, opts: { redis: string; workers: number; log?: (s: string) => void; hooks?: EpisodeHooks }): Promise<{ workers: Worker[];
  /** Closes the workers, then the providers and MCP connections. */
  close(): Promise<void> }> {
  const ctx = new SynthContext(cfg);
  const runner = await ctx.episodeRunner(opts.hooks);
  const workers = await startWorkers<TrajectoryJobData, EpisodeOutcome>(cfg.queue.name, async (job) => runner.run(job.data.task, job.data.agent), {
    redis: opts.redis, workers: opts.workers, concurrency: cfg.trajectories.concurrency, ...(opts.log ? { log: opts.log } : {}),
  });
  return {
    workers,
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
      await ctx.close();
    },
  };
}

/** Options of a queue (BullMQ) run: the Redis URL and how many local workers. */
export interface SynthQueueOptions extends SynthRunOptions {
  redis: string;
  /** Workers in this process (default 1; 0: they run elsewhere). */
  workers?: number;
}

/** The trajectory stage over BullMQ (the collecting side). */
export async function queuedTrajectories(cfg: SynthConfig, o: SynthQueueOptions, tasks: readonly TaskSpec[], agents: ReadonlyMap<string, AgentSpec>, files: StageFiles<Trajectory>): Promise<void> {
  const { Queue, QueueEvents } = await import('bullmq');
  const connection = redisConnection(o.redis);
  const queue = new Queue<TrajectoryJobData, EpisodeOutcome>(cfg.queue.name, { connection });
  const events = new QueueEvents(cfg.queue.name, { connection });
  let workers: { close(): Promise<void> } | undefined;
  try {
    await waitReady(queue, o.redis);
    await waitReady(events, o.redis);
    const n = o.workers ?? 1;
    if (n > 0) workers = await startSynthWorkers(cfg, { redis: o.redis, workers: n, log: o.log, hooks: o.hooks });
    const jobOpts = { attempts: cfg.queue.attempts, backoff: { type: 'exponential', delay: cfg.queue.backoffMs }, removeOnComplete: false, removeOnFail: false };
    let window: Promise<void>[] = [];
    for (const task of tasks) {
      if (files.isDone(task.id)) continue;
      const agent = agents.get(task.agentId);
      if (!agent) {
        files.fail({ id: task.id, kind: 'missing_agent', reasons: [`agent ${task.agentId} is not in agents.jsonl`], final: true });
        continue;
      }
      const jobId = trajectoryJobId(task.id);
      const old = await queue.getJob(jobId);
      if (old && (await old.getState()) === 'failed') await old.remove();
      const job = await queue.add('trajectory', { task, agent }, { ...jobOpts, jobId });
      window.push(
        job.waitUntilFinished(events).then(
          async (out: EpisodeOutcome) => {
            writeOutcome(files, out);
            await job.remove().catch(() => undefined);
          },
          (e: Error) => {
            files.fail({ id: task.id, kind: 'job_failed', reasons: [`job ${jobId} failed after ${cfg.queue.attempts} attempt(s): ${e.message}`], final: true });
          },
        ),
      );
      if (window.length >= cfg.queue.window) {
        await Promise.all(window);
        window = [];
      }
    }
    await Promise.all(window);
  } finally {
    await workers?.close();
    await events.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
  }
}

/** runSynth with the trajectory stage on BullMQ. */
export function runSynthQueue(cfg: SynthConfig, o: SynthQueueOptions): Promise<SynthSummary> {
  return runSynth(cfg, { ...o, trajectoryStage: (_ctx, tasks, agents, files) => queuedTrajectories(cfg, o, tasks, agents, files) });
}
