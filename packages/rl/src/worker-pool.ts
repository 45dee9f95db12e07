/**
 * Rollout workers on worker_threads (one machine). Each worker holds its own model instance and
 * gets the trainer's weights through the bucketed checkpoint engine (the pool is a BucketSink:
 * buckets are posted, the last worker receiving the buffer by transfer, not copy). run() spreads
 * trajectories over the synced workers and collects them as each is reported.
 *
 * Failure: a worker that exits or errors mid-rollout loses nothing it already reported; its
 * unreported trajectories come back in `lost` in the state they were sent in (the caller
 * re-queues them). A run that is not finished after `timeoutMs` terminates the stalled workers
 * the same way, so an iteration never waits past the timeout. Dead workers are replaced; a
 * replacement takes work after the next weight sync.
 *
 * Across machines (BullMQ over Redis) is not done here: the weights would have to travel through
 * Redis or a side channel, which needs a Redis server and its own checkpoint-engine transport.
 */
import { Worker } from 'node:worker_threads';
import type { ModelConfig } from '@karakoram/model';
import type { InferenceEngineOptions, RolloutResult, RunOptions } from './inference-engine.js';
import { cloneTrajectory, type Trajectory } from './trajectory.js';
import type { Bucket, BucketSink } from './weight-sync.js';

/** Messages from the pool to a worker. */
export type ToWorker =
  | { type: 'init'; config: ModelConfig; engine: InferenceEngineOptions; backend: { name: string; options: Record<string, unknown> } }
  | { type: 'bucket'; bucket: Bucket }
  | { type: 'sync-done'; id: number }
  | { type: 'run'; job: number; trajectories: Trajectory[]; opts: Omit<RunOptions, 'onReport'> };

type FromWorker =
  | { type: 'ready' }
  | { type: 'synced'; id: number }
  | { type: 'trajectory'; job: number; trajectory: Trajectory }
  | { type: 'done'; job: number }
  | { type: 'error'; message: string };

/** Settings of a {@link WorkerPool}. */
export interface WorkerPoolOptions {
  size: number;
  config: ModelConfig;
  engine?: InferenceEngineOptions;
  backend?: { name: string; options?: Record<string, unknown> };
  /** Longest a run() may take before stalled workers are terminated (default 10 min). */
  timeoutMs?: number;
}

interface Slot {
  worker: Worker;
  alive: boolean;
  synced: boolean;
  listeners: Set<(m: FromWorker | { type: 'exit' }) => void>;
}

/** A pool rollout's result, with the trajectories lost to dead or stalled workers. */
export interface PoolRunResult extends RolloutResult {
  /** Trajectories a dead or stalled worker had not reported, as they were sent. */
  lost: Trajectory[];
}

/** Rollout workers on worker_threads, each with its own model, synced through the bucketed checkpoint engine. */
export class WorkerPool implements BucketSink {
  readonly slots: Slot[] = [];
  private nextJob = 1;
  private nextSync = 1;
  /** Worker deaths seen (exits, errors, timeouts). */
  deaths = 0;

  constructor(readonly opts: WorkerPoolOptions) {}

  /** Spawns the pool's workers and waits until they are ready. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.size }, () => this.spawn()));
  }

  private spawn(): Promise<void> {
    const here = import.meta.url;
    const fromSource = here.endsWith('.ts');
    const worker = fromSource
      ? new Worker(new URL('./worker-boot.mjs', here), { execArgv: ['--conditions=source'], workerData: { entry: new URL('./rollout-worker.ts', here).href } })
      : new Worker(new URL('./rollout-worker.js', here));
    const slot: Slot = { worker, alive: true, synced: false, listeners: new Set() };
    this.slots.push(slot);
    const emit = (m: FromWorker | { type: 'exit' }): void => {
      for (const l of [...slot.listeners]) l(m);
    };
    worker.on('message', emit);
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (slot.alive) this.deaths++;
      slot.alive = false;
      emit({ type: 'exit' });
    });
    const b = this.opts.backend ?? { name: 'cpu', options: { threads: 1 } };
    slot.worker.postMessage({ type: 'init', config: this.opts.config, engine: this.opts.engine ?? {}, backend: { name: b.name, options: b.options ?? {} } } satisfies ToWorker);
    return this.await(slot, (m) => m.type === 'ready');
  }

  private await(slot: Slot, done: (m: FromWorker) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const l = (m: FromWorker | { type: 'exit' }): void => {
        if (m.type === 'exit') reject(new Error('rollout worker exited'));
        else if (m.type === 'error') reject(new Error(`rollout worker failed: ${m.message}`));
        else if (done(m)) resolve();
        else return;
        slot.listeners.delete(l);
      };
      slot.listeners.add(l);
    });
  }

  get alive(): Slot[] {
    return this.slots.filter((s) => s.alive);
  }

  // -- BucketSink: the checkpoint engine streams the trainer's weights here --------------------
  /** Posts a weight bucket to every live worker (the last one gets the buffer by transfer). */
  receive(bucket: Bucket): void {
    const live = this.alive;
    live.forEach((s, i) => {
      // The last worker takes the buffer itself (transfer); the others get copies.
      const b = i === live.length - 1 ? bucket : { entries: bucket.entries, buffer: bucket.buffer.slice(0) };
      s.worker.postMessage({ type: 'bucket', bucket: b } satisfies ToWorker, [b.buffer]);
    });
  }

  async done(): Promise<void> {
    const id = this.nextSync++;
    await Promise.all(this.alive.map(async (s) => {
      s.worker.postMessage({ type: 'sync-done', id } satisfies ToWorker);
      await this.await(s, (m) => m.type === 'synced' && m.id === id).catch(() => undefined);
      if (s.alive) s.synced = true;
    }));
  }

  /** Runs the active trajectories on the synced workers (same contract as InferenceEngine.run). */
  async run(trajs: Trajectory[], opts: RunOptions = {}): Promise<PoolRunResult> {
    const t0 = performance.now();
    const ready = this.slots.filter((s) => s.alive && s.synced);
    if (!ready.length) throw new Error('no synced rollout worker: sync the weights first');
    const active = trajs.filter((t) => t.status === 'active');
    const reported = new Map<number, Trajectory>();
    const lost: Trajectory[] = [];
    const { onReport, ...wire } = opts;
    await Promise.all(ready.map((slot, w) => {
      const mine = active.filter((_, i) => i % ready.length === w).map(cloneTrajectory);
      if (!mine.length) return Promise.resolve();
      const job = this.nextJob++;
      return new Promise<void>((resolve) => {
        const finish = (dead: boolean): void => {
          clearTimeout(timer);
          slot.listeners.delete(l);
          if (dead) for (const t of mine) if (!reported.has(t.id)) lost.push(t);
          resolve();
        };
        const l = (m: FromWorker | { type: 'exit' }): void => {
          if (m.type === 'trajectory' && m.job === job) {
            reported.set(m.trajectory.id, m.trajectory);
            onReport?.(m.trajectory);
          } else if (m.type === 'done' && m.job === job) finish(false);
          else if (m.type === 'exit' || m.type === 'error') finish(true);
        };
        const timer = setTimeout(() => void slot.worker.terminate(), this.opts.timeoutMs ?? 600_000);
        slot.listeners.add(l);
        slot.worker.postMessage({ type: 'run', job, trajectories: mine, opts: wire } satisfies ToWorker);
      });
    }));
    // Replace the dead (they join after the next sync).
    const dead = this.slots.filter((s) => !s.alive);
    for (const s of dead) this.slots.splice(this.slots.indexOf(s), 1);
    await Promise.all(dead.map(() => this.spawn().catch(() => undefined)));
    const out = trajs.map((t) => reported.get(t.id) ?? t).filter((t) => !lost.some((l) => l.id === t.id));
    const stats = { rows: active.length, steps: 0, sampled: 0, peakCacheBytes: 0, seconds: (performance.now() - t0) / 1000 };
    return {
      finished: out.filter((t) => t.status === 'stopped' || t.status === 'length'),
      paused: out.filter((t) => t.status === 'paused'),
      lost,
      stats,
    };
  }

  /** Terminates every worker. */
  async close(): Promise<void> {
    const all = this.slots.splice(0);
    for (const s of all) s.alive = false;
    await Promise.all(all.map((s) => s.worker.terminate()));
  }
}
