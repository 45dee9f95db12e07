import { describe, expect, it } from 'vitest';
import {
  BucketedWeightSync, HostOffload, InferenceEngine, SharedWeightSync, TrainingEngine, memoryOf, modelSink, stateBytes, type PolicySample,
} from '../src/index.js';
import { backend, bitsOf, sameBits, tinyModel } from './helpers.js';

async function someSamples(engine: InferenceEngine, it: number): Promise<PolicySample[]> {
  const { finished } = await engine.rollout(Array.from({ length: 4 }, (_, i) => ({ id: it * 10 + i, group: i >> 1, prompt: [70 + i], maxTokens: 4, temperature: 1 })));
  return finished.map((t, i) => ({ context: [...t.prompt, ...t.tokens], responseStart: t.prompt.length, policy: t.policy, oldLogProbs: t.logProbs, temperature: 1, advantage: i % 2 ? 0.5 : -0.5 }));
}

describe('weight sync (checkpoint engine)', () => {
  it('shared model: zero bytes, identical tensors, inference sees every update', async () => {
    const model = tinyModel(2);
    const engine = new InferenceEngine(model, { seed: 1 });
    const trainer = new TrainingEngine(model, { objective: { kind: 'k2', tau: 0.5 }, lr: 0.02 });
    const sync = new SharedWeightSync(trainer.model, engine.model);
    for (let it = 0; it < 2; it++) {
      const before = bitsOf(model);
      await trainer.update(await someSamples(engine, it));
      expect(sameBits(before, bitsOf(model)).length).toBeGreaterThan(0); // the update changed weights
      const r = await sync.sync();
      expect(r.bytes).toBe(0);
      expect(r.mode).toBe('shared');
      expect(sameBits(bitsOf(trainer.model), bitsOf(engine.model))).toEqual([]);
    }
    await expect(new SharedWeightSync(model, tinyModel(2)).sync()).rejects.toThrow(/not shared/);
  });

  it('separate inference instance: bucketed transfer, bit-exact after every sync', async () => {
    const model = tinyModel(2);
    const inference = tinyModel(99);
    const engine = new InferenceEngine(inference, { seed: 1 });
    const trainer = new TrainingEngine(model, { objective: { kind: 'grpo', clip: 0.2 }, lr: 0.02 });
    const sync = new BucketedWeightSync(model, modelSink(inference), 16 * 1024);
    expect(sameBits(bitsOf(model), bitsOf(inference)).length).toBeGreaterThan(0);
    for (let it = 0; it < 3; it++) {
      const r = await sync.sync();
      expect(r.bytes).toBe(stateBytes(model));
      expect(r.buckets).toBeGreaterThan(1);
      expect(sameBits(bitsOf(model), bitsOf(inference))).toEqual([]);
      await trainer.update(await someSamples(engine, it));
    }
  });

  it('offloads optimizer state to host memory and brings it back bit for bit', async () => {
    const model = tinyModel(4);
    const trainer = new TrainingEngine(model, { objective: { kind: 'k2', tau: 0.5 }, lr: 0.02 });
    await trainer.update(await someSamples(new InferenceEngine(model), 0));
    const state = () => trainer.optimizer.stateDict();
    const before = new Map([...state()].map(([n, t]) => [n, Array.from(t.dataSync())]));
    const m0 = memoryOf(backend);
    const off = await trainer.offloadOptimizer();
    const m1 = memoryOf(backend);
    expect(off.bytes).toBeGreaterThan(0);
    expect(m0.bytes - m1.bytes).toBe(off.bytes);
    expect(m0.buffers - m1.buffers).toBe(off.tensors);
    trainer.restoreOptimizer();
    expect(memoryOf(backend)).toEqual(m0);
    for (const [n, t] of state()) expect(Array.from(t.dataSync()), n).toEqual(before.get(n));
    expect(new HostOffload(state).offloaded).toBe(false);
  });
});
