import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { arithmeticCorpus, rlArith } from '../src/main.js';

describe('rl-arith (quick)', () => {
  it('pre-trains, runs RL for two seeds, reports held-out rewards and draws the reward curves', async () => {
    const out = await mkdtemp(join(tmpdir(), 'rl-arith-'));
    try {
      const logs: string[] = [];
      const r = await rlArith({ out, seeds: 2, quick: true, log: (s) => logs.push(s) });
      expect(r.before).toHaveLength(2);
      expect(r.after).toHaveLength(2);
      for (const v of [...r.before, ...r.after, ...r.sampledBefore, ...r.sampledAfter]) expect(v).toBeGreaterThanOrEqual(-1);
      expect(r.table).toContain('seed 2 reward');
      expect(await readFile(r.svg, 'utf8')).toContain('held-out reward');
      if (r.png) expect((await readFile(r.png)).subarray(1, 4).toString()).toBe('PNG');
      expect(logs.some((l) => l.includes('pre-trained') && l.includes('±'))).toBe(true);
      const lines = (await readFile(join(out, 'seed-1', 'metrics.jsonl'), 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(JSON.parse(lines[0]!).seconds).toHaveProperty('rollout');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 240_000);

  it('pre-training text: sums of the training split, some with a remark after the answer', () => {
    const lines = arithmeticCorpus(1, 1).trim().split('\n');
    expect(lines.length).toBe(2000);
    for (const l of lines.slice(0, 50)) {
      const m = /^(\d+)\+(\d+)=(\d+)/.exec(l)!;
      expect(Number(m[1]) + Number(m[2])).toBe(Number(m[3]));
    }
    const chatty = lines.filter((l) => !/^\d+\+\d+=\d+$/.test(l)).length / lines.length;
    expect(chatty).toBeGreaterThan(0.4);
    expect(chatty).toBeLessThan(0.6);
  });
});
