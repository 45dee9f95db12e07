import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { register } from '@karakoram/backend-cpu';
import { countParameters } from '@karakoram/model';
import { SMOKE_LAB, checkHeldOut, labPoints, parseLabConfig, reachAt, spread, trainingFlops, withinNoise, loadLabData } from '../src/index.js';

describe('lab pieces', () => {
  it('builds one shape per distinct point: the head study reuses the sparsity point it runs at', () => {
    const pts = labPoints(parseLabConfig({ out: 'x' }));
    expect(pts.map((p) => p.key)).toEqual(['sparsity-1-heads-1x', 'sparsity-4-heads-1x', 'sparsity-8-heads-1x', 'sparsity-16-heads-1x', 'sparsity-24-heads-1x', 'sparsity-8-heads-2x']);
    expect(pts[2]!.studies).toEqual(['sparsity', 'heads']);
    for (const p of pts) {
      expect(p.config.num_experts_per_tok).toBe(2);
      expect(p.config.n_routed_experts).toBe(2 * p.sparsity);
      expect(p.config.num_attention_heads).toBe(p.headsFactor * p.config.num_hidden_layers);
    }
    // Same activated expert compute at every sparsity: only the router (E x d weight + E bias per layer) grows.
    const act = pts.slice(0, 5).map((p) => countParameters(p.config).activated);
    expect(act[4]! - act[0]!).toBe(2 * (48 - 2) * (64 + 1));
  });

  it('counts training FLOPs as 6 N D plus attention scores', () => {
    const p = labPoints(parseLabConfig({ out: 'x' }))[0]!.config;
    const c = countParameters(p);
    const f = trainingFlops(p, 1000, 64);
    expect(f.matmul).toBe(6 * (c.activated - c.breakdown.embedding) * 1000);
    expect(f.attention).toBe(3 * 2 * 2 * 2 * 64 * (16 + 8 + 16) * 1000);
  });

  it('flags overlap between training and held-out windows', () => {
    const a = Int32Array.from({ length: 100 }, (_, i) => i);
    expect(checkHeldOut(a.subarray(0, 50), a.subarray(50), 8).overlap).toBe(0);
    expect(() => checkHeldOut(a, a.slice(16, 41), 8)).toThrow(/held-out windows also occur/);
  });

  it('keeps Moby-Dick held-out chapters out of training, and rejects overlapping ranges', async () => {
    const d = await loadLabData(parseLabConfig({ out: 'x', corpus: { mobyDick: { train: [1, 3], heldOut: [134, 135] } }, evalTokens: 4096 }));
    expect(d.check.overlap).toBe(0);
    expect(d.heldOut.length).toBeLessThanOrEqual(4096);
    expect(d.check.heldOutSha256).toMatch(/^[0-9a-f]{64}$/);
    await expect(loadLabData(parseLabConfig({ out: 'x', corpus: { mobyDick: { train: [1, 10], heldOut: [5, 6] } } }))).rejects.toThrow(/disjoint/);
  });

  it('computes spread, the noise rule and the FLOPs-to-loss interpolation', () => {
    const s = spread([1, 2, 3]);
    expect([s.mean, s.std, s.min, s.max]).toEqual([2, 1, 1, 3]);
    expect(withinNoise(spread([1, 1.2]), spread([1.1, 1.3]))).toBe(true);
    expect(withinNoise(spread([1, 1.01]), spread([2, 2.01]))).toBe(false);
    expect(reachAt([[10, 3], [100, 2]], 2.5)).toBeCloseTo(Math.sqrt(1000));
    expect(reachAt([[10, 3], [100, 2]], 1)).toBeUndefined();
  });

  it('rejects a bad config naming the field', () => {
    expect(() => parseLabConfig({ out: 'x', sparsity: { multiples: [0] } })).toThrow(/sparsity\.multiples/);
  });
});

describe('smoke sweep', () => {
  it('trains every point for every seed and measures the same held-out tokens', async () => {
    register();
    const { runLab } = await import('../src/index.js');
    const out = await mkdtemp(join(tmpdir(), 'lab-'));
    try {
      const r = await runLab(parseLabConfig({ ...SMOKE_LAB, out }), { log: () => {} });
      expect(r.points).toHaveLength(3);
      for (const p of r.points) {
        expect(p.runs.map((x) => x.seed)).toEqual([0, 1]);
        for (const x of p.runs) {
          expect(x.evals.map((e) => e.step)).toEqual([3, 6]);
          expect(Number.isFinite(x.validationLoss)).toBe(true);
          expect(x.validationLoss).toBeLessThan(Math.log(261) + 0.5);
        }
      }
      expect(r.check.overlap).toBe(0);
      expect(r.check.heldOutTokens).toBe(1024 - 31);
      const { writeLabReport } = await import('../src/index.js');
      const rep = await writeLabReport(r, out);
      const md = await readFile(rep.md, 'utf8');
      expect(md).toContain('## Sparsity');
      expect(md).toContain('## Attention heads');
      expect(md).toMatch(/within noise|beyond noise/);
      expect(md).toContain(r.check.heldOutSha256);
      expect(await readFile(rep.svg, 'utf8')).toContain('Held-out loss vs sparsity');
      if (rep.png) expect((await readFile(rep.png)).subarray(1, 4).toString()).toBe('PNG');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 90_000);
});
