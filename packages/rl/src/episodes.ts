/**
 * Runs episodes (a trajectory and its environment) through a rollout backend, turn by turn:
 * a turn ends at a stop token; the env steps on the turn's text; if it answers with an
 * observation (a tool result), those tokens are appended as non-policy tokens and the trajectory
 * goes on within the same iteration. Budgets: a trajectory that reaches its per-task token budget
 * is truncated and its reward lowered by `lengthPenalty`; one that reaches the per-iteration
 * budget is paused and handed back for the next iteration.
 */
import type { Tokenizer } from '@karakoram/model';
import type { RolloutResult, RunOptions } from './inference-engine.js';
import type { Env } from './envs/types.js';
import type { Trajectory } from './trajectory.js';

/** Something that samples trajectories: the inference engine or a worker pool. */
export interface RolloutBackend {
  /** Samples the trajectories (until stop, budget or pause); may return trajectories lost by a dead worker. */
  run(trajs: Trajectory[], opts?: RunOptions): Promise<RolloutResult & { lost?: Trajectory[] }>;
}

/** A trajectory and its environment, with the reward once it is done. */
export interface Episode {
  traj: Trajectory;
  env: Env;
  reward?: number;
  info?: Record<string, unknown>;
}

/** The episodes of a {@link runEpisodes} call by outcome, with the time spent in environments and the peak KV cache. */
export interface EpisodeRunResult {
  done: Episode[];
  paused: Episode[];
  /** Lost by a dead worker: re-queued by the caller in the state they were sent in. */
  lost: Episode[];
  envSeconds: number;
  peakCacheBytes: number;
}

/** Runs the episodes turn by turn until each is done, truncated or paused; returns them sorted by outcome. */
export async function runEpisodes(
  backend: RolloutBackend,
  episodes: Episode[],
  opts: { tokenizer: Tokenizer; maxTokensThisIteration?: number; version?: number; lengthPenalty?: number },
): Promise<EpisodeRunResult> {
  const out: EpisodeRunResult = { done: [], paused: [], lost: [], envSeconds: 0, peakCacheBytes: 0 };
  const byId = new Map(episodes.map((e) => [e.traj.id, e]));
  let active = episodes.filter((e) => e.traj.status === 'active');
  for (const e of episodes) if (e.traj.status === 'paused') out.paused.push(e);
  while (active.length) {
    const res = await backend.run(active.map((e) => e.traj), { maxTokensThisIteration: opts.maxTokensThisIteration, version: opts.version });
    out.peakCacheBytes = Math.max(out.peakCacheBytes, res.stats.peakCacheBytes);
    for (const t of res.lost ?? []) {
      const e = byId.get(t.id)!;
      e.traj = { ...t, status: 'paused' };
      out.lost.push(e);
    }
    for (const t of res.paused) {
      const e = byId.get(t.id)!;
      e.traj = t;
      out.paused.push(e);
    }
    const next: Episode[] = [];
    const t0 = performance.now();
    for (const t of res.finished) {
      const e = byId.get(t.id)!;
      e.traj = t;
      const action = opts.tokenizer.decode(t.tokens.slice(t.turnStart).filter((_, i) => t.policy[t.turnStart + i] === 1));
      const r = e.env.step(action);
      if (t.status === 'length') {
        e.reward = r.reward - (opts.lengthPenalty ?? 0);
        e.info = { ...r.info, truncated: true };
        out.done.push(e);
      } else if (r.done || r.observation === undefined) {
        e.reward = r.reward;
        e.info = r.info;
        out.done.push(e);
      } else {
        for (const id of opts.tokenizer.encode(r.observation)) {
          t.tokens.push(id);
          t.logProbs.push(NaN);
          t.policy.push(0);
        }
        t.turnStart = t.tokens.length;
        t.status = 'active';
        next.push(e);
      }
    }
    out.envSeconds += (performance.now() - t0) / 1000;
    active = next;
  }
  return out;
}
