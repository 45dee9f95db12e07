/**
 * A rollout worker thread: its own backend and model instance, weights received in buckets from
 * the trainer (the same checkpoint-engine step as a separate inference model), and an
 * InferenceEngine whose trajectories are posted back one by one as each ends, so a worker that
 * dies mid-rollout has already handed over every trajectory it finished.
 */
import { parentPort } from 'node:worker_threads';
import { createBackend, setBackend } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { DeepseekV3ForCausalLM } from '@karakoram/model';
import { InferenceEngine } from './inference-engine.js';
import { cloneTrajectory } from './trajectory.js';
import { applyBucket } from './weight-sync.js';
import type { ToWorker } from './worker-pool.js';

let engine: InferenceEngine | undefined;
let chain: Promise<void> = Promise.resolve();
const port = parentPort!;

async function handle(m: ToWorker): Promise<void> {
  if (m.type === 'init') {
    registerCpu();
    const backend = await createBackend(m.backend.name, m.backend.options);
    setBackend(backend);
    engine = new InferenceEngine(new DeepseekV3ForCausalLM(m.config), m.engine);
    port.postMessage({ type: 'ready' });
  } else if (m.type === 'bucket') applyBucket(engine!.model, m.bucket);
  else if (m.type === 'sync-done') port.postMessage({ type: 'synced', id: m.id });
  else if (m.type === 'run') {
    await engine!.run(m.trajectories, { ...m.opts, onReport: (t) => port.postMessage({ type: 'trajectory', job: m.job, trajectory: cloneTrajectory(t) }) });
    port.postMessage({ type: 'done', job: m.job });
  }
}

// Messages are handled strictly in order (init is async; buckets must not overtake it).
port.on('message', (m: ToWorker) => {
  chain = chain.then(() => handle(m)).catch((e: unknown) => port.postMessage({ type: 'error', message: (e as Error).stack ?? String(e) }));
});
