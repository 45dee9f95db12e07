import { describe, expect, it } from 'vitest';
import { InferenceEngine, type RolloutRequest } from '../src/index.js';
import { tinyModel } from './helpers.js';

const requests = (n: number): RolloutRequest[] =>
  Array.from({ length: n }, (_, i) => ({ id: 100 + i, group: i, prompt: Array.from({ length: 2 + (i % 3) }, (_, j) => 97 + ((i * 7 + j) % 20)), maxTokens: 12, temperature: 1 }));

describe('InferenceEngine', () => {
  const model = tinyModel(3);

  it('pauses at the per-iteration budget and resumes to exactly the uninterrupted tokens', async () => {
    const engine = new InferenceEngine(model, { seed: 42 });
    const whole = await engine.rollout(requests(5));
    expect(whole.finished).toHaveLength(5);
    expect(whole.paused).toHaveLength(0);

    const first = await engine.rollout(requests(5), { maxTokensThisIteration: 5 });
    expect(first.paused).toHaveLength(5);
    for (const p of first.paused) {
      expect(p.tokens).toHaveLength(5);
      expect(p.rng.counter).toBe(5);
    }
    // The next iteration resumes them in another batch order, next to an unrelated new trajectory.
    const second = await engine.resume([...first.paused].reverse(), { maxTokensThisIteration: 4 });
    const third = await engine.resume(second.paused, {});
    const byId = new Map([...third.finished].map((t) => [t.id, t]));
    for (const w of whole.finished) {
      const r = byId.get(w.id)!;
      expect(r.tokens).toEqual(w.tokens);
      expect(r.status).toBe(w.status);
      r.logProbs.forEach((lp, i) => expect(lp).toBeCloseTo(w.logProbs[i]!, 4));
    }
  });

  it('logs log-softmax(logits / T) of the sampled tokens, and a trajectory does not depend on its batch', async () => {
    const engine = new InferenceEngine(model, { seed: 7 });
    const alone = await engine.rollout(requests(1));
    const batched = await engine.rollout(requests(4));
    expect(batched.finished.find((t) => t.id === 100)!.tokens).toEqual(alone.finished[0]!.tokens);
    for (const lp of alone.finished[0]!.logProbs) expect(lp).toBeLessThan(0);
    const other = await new InferenceEngine(model, { seed: 8 }).rollout(requests(1));
    expect(other.finished[0]!.tokens).not.toEqual(alone.finished[0]!.tokens);
  });

  it('holds no KV cache between calls', async () => {
    const engine = new InferenceEngine(model, { seed: 1 });
    const r = await engine.rollout(requests(3));
    expect(r.stats.peakCacheBytes).toBeGreaterThan(0);
    expect(engine.liveCacheBytes).toBe(0);
  });
});
