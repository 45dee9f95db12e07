import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpora, runAblation } from '../src/ablation-lib.js';
import { REPHRASINGS, entities, questions, rawText } from '../src/facts.js';
import { example } from '../src/main.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'karakoram-app-rephrase-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the example', () => {
  it('rephrases the bundled corpus through a served model, resumably', async () => {
    const { records, summary } = await example({ out: join(dir, 'example'), log: () => undefined, quick: true });
    expect(summary).toMatchObject({ docs: 5, written: 5, malformed: 0 });
    expect(records.map((r) => r.id).sort()).toEqual(['everest:0', 'k2:0', 'matterhorn-de:0', 'nanga-parbat:0', 'pythagoras:0']);
    expect(records.find((r) => r.source_id === 'matterhorn-de')!.translated).toBe(true);
    expect(records.find((r) => r.source_id === 'everest')!.translated).toBe(false);
    const again = await example({ out: join(dir, 'example'), log: () => undefined, quick: true });
    expect(again.summary).toMatchObject({ written: 0, skipped: 5 });
  }, 180_000);
});

describe('the ablation', () => {
  it('builds corpora whose held-out questions appear in no training text', () => {
    const es = entities(20, 1);
    expect(new Set(es.map((e) => e.name)).size).toBe(20);
    const c = corpora(es, 10, 1);
    for (const e of es) expect(c.raw).toContain(rawText(e));
    expect(c.rephrasings.length).toBe(200);
    for (const r of REPHRASINGS) {
      const t = r(es[0]!);
      for (const v of [es[0]!.name, es[0]!.city, es[0]!.colour, es[0]!.animal]) expect(t.toLowerCase()).toContain(v.toLowerCase());
    }
    for (const q of questions(es, 'held-out')) {
      const stem = q.prompt.replace(q.entity, '').slice(0, 30);
      expect(c.raw.includes(stem) || c.rephrased.includes(stem)).toBe(false);
    }
  });

  it('trains both arms and reports both accuracies (scaled down)', async () => {
    const r = await runAblation({ out: join(dir, 'ablation'), entities: 4, epochs: 2, batchSize: 4, seqLen: 32, model: { vocab_size: 261 }, log: () => undefined });
    expect(r.questions).toBe(12);
    expect(r.rephrasingChecksPassed).toBe(1);
    for (const a of [r.raw, r.rephrased]) {
      expect(a.steps).toBeGreaterThan(0);
      expect(Number.isFinite(a.finalLoss)).toBe(true);
      for (const acc of [a.rawFormAccuracy, a.heldOutAccuracy]) {
        expect(acc).toBeGreaterThanOrEqual(0);
        expect(acc).toBeLessThanOrEqual(1);
      }
    }
    expect(r.rephrased.corpusTokens).toBeGreaterThan(r.raw.corpusTokens);
  }, 180_000);
});
