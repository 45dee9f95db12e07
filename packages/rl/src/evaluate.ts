/** Held-out evaluation: one greedy (temperature 0) episode per prompt, mean reward. */
import { hash32 } from '@karakoram/core';
import type { Tokenizer } from '@karakoram/model';
import type { EnvFactory } from './envs/types.js';
import { runEpisodes, type Episode, type RolloutBackend } from './episodes.js';
import { trajectorySeed } from './sampling.js';

/** Runs one episode per held-out prompt (greedy unless `temperature` is given) and returns the mean and each reward. */
export async function evaluate(backend: RolloutBackend, env: EnvFactory, tokenizer: Tokenizer, opts: { prompts: number; seed: number; temperature?: number }): Promise<{ reward: number; rewards: number[] }> {
  const episodes: Episode[] = Array.from({ length: opts.prompts }, (_, i) => {
    const e = env();
    const prompt = tokenizer.encode(e.reset(hash32(opts.seed ^ 0x7e57, i)));
    return {
      env: e,
      traj: {
        id: i, group: i, prompt, tokens: [], logProbs: [], policy: [], temperature: opts.temperature ?? 0, topP: 1, maxTokens: e.tokenBudget,
        rng: { seed: 0, counter: 0 }, iterationTokens: 0, turnStart: 0, status: 'active', versions: [],
      },
    };
  });
  // Seeds only matter when temperature > 0; the engine checks them, so give each its stream.
  const engineSeed = (backend as { seed?: number }).seed ?? 0;
  for (const e of episodes) e.traj.rng.seed = trajectorySeed(engineSeed, e.traj.id);
  const r = await runEpisodes(backend, episodes, { tokenizer, lengthPenalty: 0 });
  const rewards = r.done.map((e) => e.reward!);
  return { reward: rewards.reduce((a, b) => a + b, 0) / Math.max(1, rewards.length), rewards };
}
