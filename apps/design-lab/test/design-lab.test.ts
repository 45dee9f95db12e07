import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { designLab } from '../src/main.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'design-lab-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('design-lab (smoke)', () => {
  it('runs both studies with two seeds and writes results.md, SVG and PNG', async () => {
    const logs: string[] = [];
    const r = await designLab({ out: join(dir, 'app'), smoke: true, log: (s) => logs.push(s) });
    const md = await readFile(r.md, 'utf8');
    expect(md).toMatch(/\| 4 \| 8 \/ 2 \|/); // sparsity 4: 8 routed experts, 2 active
    expect(md).toMatch(/0 hashes are shared/);
    expect(md).toContain('K2 report');
    expect(r.flopsRatio.get(4)).toBe(1); // the sparsest point is its own reference
    expect(await readFile(r.svg, 'utf8')).toContain('More heads: loss change vs inference-FLOP change');
    if (r.png) expect((await readFile(r.png)).subarray(1, 4).toString()).toBe('PNG');
    expect(logs.some((l) => l.includes('[6/6]'))).toBe(true);
  }, 90_000);

  it('a config file (what `karakoram lab --config FILE` reads) resolves paths against the file', async () => {
    // Seeded random words: no window repeats, so the held-out hash check passes honestly.
    const vocab = ['whale', 'sea', 'ship', 'Ishmael', 'harpoon', 'rope', 'deck', 'captain', 'the', 'and', 'white', 'oil'];
    let s = 7;
    const words = Array.from({ length: 2500 }, () => vocab[(s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % vocab.length]).join(' ');
    await writeFile(join(dir, 'corpus.txt'), words);
    await writeFile(join(dir, 'lab.json'), JSON.stringify({
      out: 'cli-out', seeds: [0], corpus: { text: 'corpus.txt', heldOutFraction: 0.1 },
      model: { hidden_size: 32, intermediate_size: 64, moe_intermediate_size: 16, q_lora_rank: 16, kv_lora_rank: 8, qk_nope_head_dim: 8, qk_rope_head_dim: 4, v_head_dim: 8 },
      train: { steps: 4, batchSize: 2, seqLen: 32, warmupSteps: 1, evals: 1 }, evalTokens: 512,
      sparsity: { active: 1, multiples: [1] }, heads: null,
    }));
    const out: string[] = [];
    const r = await designLab({ config: join(dir, 'lab.json'), log: (l) => out.push(l) });
    expect(r.md).toBe(join(dir, 'cli-out', 'results.md'));
    expect(out.join('\n')).toContain('corpus.txt, last 10.0% held out');
    expect(await readFile(join(dir, 'cli-out', 'results.md'), 'utf8')).toContain('## Sparsity');
  }, 60_000);
});
