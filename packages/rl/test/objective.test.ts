import { describe, expect, it } from 'vitest';
import { ops, tidy, valueAndGrads, type Tensor } from '@karakoram/core';
import { InferenceEngine, groupAdvantages, k2Loss, k2LossHost, packSamples, tokenLogProbs, type PolicySample } from '../src/index.js';
import { tinyModel } from './helpers.js';

describe('K2 objective', () => {
  it('has the gradient finite differences give (float64 loss from the model log-probs)', async () => {
    const model = tinyModel(5);
    const engine = new InferenceEngine(model, { seed: 3 });
    const { finished } = await engine.rollout(Array.from({ length: 4 }, (_, i) => ({ id: i, group: i >> 1, prompt: [60 + i, 61], maxTokens: 4, temperature: 1.3 })));
    const rewards = [4, -4, 1, 5];
    const adv = groupAdvantages(rewards, finished.map((t) => t.group), false);
    // pi_old differs from pi (as after an update): shift the stored log-probs.
    const samples: PolicySample[] = finished.map((t, i) => ({
      context: [...t.prompt, ...t.tokens], responseStart: t.prompt.length, policy: t.policy,
      oldLogProbs: t.logProbs.map((lp, j) => lp + 0.05 * (i - j)), temperature: t.temperature, advantage: adv[i]!,
    }));
    const b = packSamples(samples);
    const tau = 1;
    const named = model.stateDict();
    const picks: [string, Tensor][] = [['lm_head.weight', named.get('lm_head.weight')!], ['model.embed_tokens.weight', named.get('model.embed_tokens.weight')!]];
    const { value, grads } = valueAndGrads(() => k2Loss(model, b, tau).loss, picks.map((p) => p[1]));
    const autodiffLoss = (await value.data())[0]!;

    const hostLoss = (): number => {
      const lp = tidy(() => ops.sum(tokenLogProbs(model, b), 1)).dataSync();
      return k2LossHost(Float64Array.from(lp), b, tau);
    };
    expect(hostLoss()).toBeCloseTo(autodiffLoss, 5);

    for (let k = 0; k < picks.length; k++) {
      const [name, w] = picks[k]!;
      const g = grads[k]!.dataSync();
      let idx = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[idx]!)) idx = i;
      expect(Math.abs(g[idx]!)).toBeGreaterThan(1e-3);
      const base = Float32Array.from(w.dataSync());
      const eps = 1e-2;
      const at = (delta: number): number => {
        const v = base.slice();
        v[idx] = base[idx]! + delta;
        w.assign(ops.tensor(v, w.shape));
        return hostLoss();
      };
      // Central differences with Richardson extrapolation (cancels the eps^2 term, so eps can stay
      // large enough for the f32 forward's rounding to be negligible).
      const central = (e: number): number => (at(e) - at(-e)) / (2 * e);
      const fd = (4 * central(eps / 2) - central(eps)) / 3;
      w.assign(ops.tensor(base, w.shape));
      expect(Math.abs(fd - g[idx]!), `${name}[${idx}]: autodiff ${g[idx]}, finite differences ${fd}`).toBeLessThan(0.02 * Math.abs(g[idx]!) + 1e-4);
    }
  });

  it('group advantages: K2 centres, GRPO normalises', () => {
    expect(groupAdvantages([1, 0, 0, 0], [0, 0, 1, 1], false)).toEqual([0.5, -0.5, 0, 0]);
    const n = groupAdvantages([1, 0, 3, 3], [0, 0, 1, 1], true);
    expect(n[0]).toBeCloseTo(1, 4);
    expect(n[1]).toBeCloseTo(-1, 4);
    expect(n[2]).toBe(0);
  });
});
