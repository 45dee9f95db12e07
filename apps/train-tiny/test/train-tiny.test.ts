import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trainTiny } from '../src/main.js';

describe('train-tiny (quick)', () => {
  it('trains Muon and MuonClip, draws both curves, writes checkpoints and a sample', async () => {
    const out = await mkdtemp(join(tmpdir(), 'train-tiny-'));
    try {
      const logs: string[] = [];
      const r = await trainTiny({ out, steps: 6, quick: true, log: (s) => logs.push(s) });
      expect(r.tau).toBeGreaterThanOrEqual(1);
      expect(r.table.split('\n').length).toBeGreaterThan(3);
      const svg = await readFile(r.svg, 'utf8');
      expect(svg).toContain('muonclip');
      expect(svg).toContain(`tau = ${r.tau}`);
      if (r.png) expect((await readFile(r.png)).subarray(1, 4).toString()).toBe('PNG');
      expect(r.sample?.startsWith('Call me Ishmael. ')).toBe(true);
      for (const run of ['muon', 'muonclip']) {
        const cfg = JSON.parse(await readFile(join(out, run, 'model', 'config.json'), 'utf8'));
        expect(cfg.n_routed_experts).toBe(4);
        expect((await readFile(join(out, run, 'metrics.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(6);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});
