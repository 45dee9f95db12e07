import { afterAll, describe, expect, it } from 'vitest';
import { BucketedWeightSync, InferenceEngine, WorkerPool, trajectorySeed, type Trajectory } from '../src/index.js';
import { tinyModel } from './helpers.js';

const fresh = (n: number, maxTokens: number, seed: number): Trajectory[] =>
  Array.from({ length: n }, (_, i) => ({
    id: i, group: i, prompt: [65 + (i % 20), 66], tokens: [], logProbs: [], policy: [], temperature: 1, topP: 1, maxTokens,
    rng: { seed: trajectorySeed(seed, i), counter: 0 }, iterationTokens: 0, turnStart: 0, status: 'active' as const, versions: [],
  }));

describe('rollout workers (worker_threads)', () => {
  const model = tinyModel(6);
  const pool = new WorkerPool({ size: 2, config: model.config, engine: { seed: 11 } });
  afterAll(() => pool.close());

  it('get the weights through the bucketed sync and sample what the local engine samples', async () => {
    await pool.start();
    const r = await new BucketedWeightSync(model, pool, 8 * 1024).sync();
    expect(r.bytes).toBe(r.modelBytes);
    const remote = await pool.run(fresh(6, 6, 11));
    const local = await new InferenceEngine(model, { seed: 11 }).run(fresh(6, 6, 11));
    expect(remote.lost).toEqual([]);
    expect(remote.finished.map((t) => t.tokens)).toEqual(local.finished.map((t) => t.tokens));
  }, 120_000);

  it('a worker killed mid-rollout loses no reported trajectory and the run does not stall', async () => {
    const reported: number[] = [];
    let killed = false;
    const victim = pool.slots[0]!;
    // Long budgets: trajectories end one by one, so the kill lands mid-rollout.
    const trajs = fresh(8, 40, 11).map((t, i) => ({ ...t, maxTokens: 3 + 5 * i }));
    const t0 = Date.now();
    const r = await pool.run(trajs, {
      onReport: (t) => {
        reported.push(t.id);
        if (!killed && t.id % 2 === 0) {
          killed = true;
          void victim.worker.terminate();
        }
      },
    });
    expect(killed).toBe(true);
    expect(pool.deaths).toBe(1);
    const got = new Set([...r.finished, ...r.paused].map((t) => t.id));
    for (const id of reported) expect(got.has(id)).toBe(true);
    expect(r.lost.length).toBeGreaterThan(0);
    for (const l of r.lost) {
      expect(l.tokens).toEqual([]); // handed back as sent, to be re-queued
      expect(got.has(l.id)).toBe(false);
    }
    expect(got.size + r.lost.length).toBe(8);
    expect(Date.now() - t0).toBeLessThan(60_000);
    // The replacement joins after the next sync.
    await new BucketedWeightSync(model, pool, 8 * 1024).sync();
    expect(pool.alive.filter((s) => s.synced)).toHaveLength(2);
  }, 120_000);

  it('a stalled run ends at the timeout', async () => {
    const slow = new WorkerPool({ size: 1, config: model.config, engine: { seed: 11 }, timeoutMs: 1500 });
    try {
      await slow.start();
      await new BucketedWeightSync(model, slow).sync();
      const t0 = Date.now();
      const r = await slow.run(fresh(4, 100_000, 11).map((t) => ({ ...t, maxTokens: 100_000 })));
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(r.lost).toHaveLength(4);
    } finally {
      await slow.close();
    }
  }, 120_000);
});
