import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRlConfig, runRL, type RlConfigInput } from '../src/index.js';
import './helpers.js';

const base = (out: string, extra: Partial<RlConfigInput> = {}): RlConfigInput => ({
  seed: 3,
  model: { preset: 'tiny', overrides: { vocab_size: 261, num_hidden_layers: 2 } },
  env: { name: 'arithmetic', options: { maxOperand: 9, tokenBudget: 4 } },
  iterations: 2, promptsPerIteration: 2, samplesPerPrompt: 3, maxTokensThisIteration: 2,
  eval: { prompts: 4 }, out, ...extra,
});

describe('RL controller', () => {
  it('iterates rollout → reward → train → sync with partial rollouts, phase timings, memory and metrics', async () => {
    const out = await mkdtemp(join(tmpdir(), 'rl-ctl-'));
    try {
      const logs: string[] = [];
      const r = await runRL(parseRlConfig(base(out)), { log: (s) => logs.push(s) });
      expect(r.history).toHaveLength(2);
      const [a, b] = r.history;
      // Budget 2 per iteration < answers of up to 4 tokens: some pause, and resume next time.
      expect(a!.paused).toBeGreaterThan(0);
      expect(b!.finished).toBeGreaterThan(0);
      for (const it of r.history) {
        expect(it.sync).toMatchObject({ mode: 'shared', bytes: 0 });
        expect(it.sync.modelBytes).toBeGreaterThan(0);
        for (const k of ['rollout', 'reward', 'train', 'sync'] as const) expect(it.seconds[k]).toBeGreaterThanOrEqual(0);
        // The optimizer state was on the host during the rollout and back on the device for training.
        expect(it.memory.rollout.optimizerOffloadedBytes).toBeGreaterThan(0);
        expect(it.memory.train.bytes - it.memory.rollout.bytes).toBeGreaterThanOrEqual(it.memory.rollout.optimizerOffloadedBytes);
      }
      const lines = (await readFile(r.metrics, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(lines).toHaveLength(2);
      expect(lines[0].seconds).toHaveProperty('sync');
      expect(logs.some((l) => /iter 1 .*rollout .*train .*sync .*of .*model/.test(l))).toBe(true);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('runs with a separate inference instance (bucketed sync) and with rollout workers', async () => {
    const out = await mkdtemp(join(tmpdir(), 'rl-ctl-'));
    try {
      const bucketed = await runRL(parseRlConfig(base(out, { sync: { mode: 'bucketed', bucketBytes: 32 * 1024 }, objective: { kind: 'grpo', clip: 0.2 } })), { log: () => undefined });
      for (const it of bucketed.history) {
        expect(it.sync.mode).toBe('bucketed');
        expect(it.sync.bytes).toBe(it.sync.modelBytes);
        expect(it.sync.buckets).toBeGreaterThan(1);
      }
      const workers = await runRL(parseRlConfig(base(join(out, 'w'), { workers: 1 })), { log: () => undefined });
      expect(workers.history.map((h) => h.sync.bytes)).toEqual(workers.history.map((h) => h.sync.modelBytes));
      expect(workers.history.reduce((n, h) => n + h.finished, 0)).toBeGreaterThan(0);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 180_000);
});
