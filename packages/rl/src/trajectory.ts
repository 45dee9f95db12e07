/**
 * A trajectory: one response (possibly several turns with environment observations in between)
 * to one prompt. Plain data (numbers and arrays) so it crosses postMessage to rollout workers and
 * back unchanged.
 */
export type TrajectoryStatus = 'active' | 'paused' | 'stopped' | 'length';

/** One sampled response to a prompt, growing over turns and iterations, with per-token log-probs. */
export interface Trajectory {
  /** Unique within a run; with the run seed it fixes the trajectory's random stream. */
  id: number;
  /** The prompt group (K samples of one prompt share it; advantages are taken within it). */
  group: number;
  prompt: number[];
  /** Everything after the prompt: sampled tokens and inserted observation tokens. */
  tokens: number[];
  /** Per entry of `tokens`: log pi_old of a sampled token (see sampling.ts), NaN for observations. */
  logProbs: number[];
  /** Per entry of `tokens`: 1 where the policy sampled it, 0 for environment observations. */
  policy: number[];
  temperature: number;
  topP: number;
  /** Per-task token budget over sampled tokens; reaching it ends the trajectory with 'length'. */
  maxTokens: number;
  /** The random stream: seed (trajectorySeed(runSeed, id)) and the index of the next draw. */
  rng: { seed: number; counter: number };
  /** Sampled tokens generated in the current iteration (partial-rollout budget). */
  iterationTokens: number;
  /** Where the current turn began in `tokens` (the env sees tokens[turnStart:] as its action). */
  turnStart: number;
  status: TrajectoryStatus;
  /** Policy versions (iterations) that sampled tokens of this trajectory. */
  versions: number[];
}

/** The number of tokens the policy sampled in a trajectory (observations excluded). */
export function sampledCount(t: Trajectory): number {
  let n = 0;
  for (const p of t.policy) n += p;
  return n;
}

/** A deep copy (trajectories are mutated as they grow). */
export function cloneTrajectory(t: Trajectory): Trajectory {
  return { ...t, prompt: [...t.prompt], tokens: [...t.tokens], logProbs: [...t.logProbs], policy: [...t.policy], rng: { ...t.rng }, versions: [...t.versions] };
}
