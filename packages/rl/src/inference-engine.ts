/**
 * The inference engine: batched sampling over the absorbed-MLA latent cache, with per-token
 * log-probs and partial rollouts.
 *
 * Every call re-prefills each trajectory's whole context (prompt + tokens so far), left-padded
 * into one batch, then decodes one token per row per step. The cache lives only inside a call
 * and is disposed when it returns, so between calls (while the trainer runs) the engine holds no
 * device memory; this is also why a paused trajectory can resume after a weight update.
 */
import { KarakoramError, ops, tidy, type Backend, type Tensor } from '@karakoram/core';
import type { DeepseekV3ForCausalLM } from '@karakoram/model';
import { drawAt, sampleToken, trajectorySeed } from './sampling.js';
import { cloneTrajectory, type Trajectory } from './trajectory.js';

/** Settings of the {@link InferenceEngine}. */
export interface InferenceEngineOptions {
  /** The run seed: trajectory i draws from uniformAt(trajectorySeed(seed, i), k). */
  seed?: number;
  /** Sampling a stop token ends the turn (the token is kept: the policy chose to stop). */
  stopTokens?: readonly number[];
  padToken?: number;
}

/** A request for a new trajectory: prompt, token budget and sampling. */
export interface RolloutRequest {
  id: number;
  group: number;
  prompt: readonly number[];
  maxTokens: number;
  temperature: number;
  topP?: number;
}

/** Options of one rollout call. */
export interface RunOptions {
  /** Pause a trajectory after this many sampled tokens in this iteration (partial rollout). */
  maxTokensThisIteration?: number;
  /** The policy version stamped on the tokens sampled now. */
  version?: number;
  /** Called as soon as a trajectory stops, hits its budget or pauses (rollout workers stream these). */
  onReport?: (t: Trajectory) => void;
}

/** The trajectories of a rollout call, finished and paused, with its stats. */
export interface RolloutResult {
  finished: Trajectory[];
  paused: Trajectory[];
  stats: { rows: number; steps: number; sampled: number; peakCacheBytes: number; seconds: number };
}

/** Batched sampling with per-token log-probs and partial rollouts; holds no device memory between calls. */
export class InferenceEngine {
  readonly seed: number;
  private readonly stop: Set<number>;
  private readonly pad: number;
  /** Bytes of KV cache alive right now (0 outside run()). */
  liveCacheBytes = 0;

  constructor(public model: DeepseekV3ForCausalLM, opts: InferenceEngineOptions = {}) {
    this.seed = opts.seed ?? 0;
    this.stop = new Set(opts.stopTokens ?? []);
    this.pad = opts.padToken ?? 0;
  }

  get backend(): Backend {
    return this.model.lm_head.weight.backend;
  }

  /** New trajectories from prompts, run until they stop, hit maxTokens, or pause. */
  rollout(requests: readonly RolloutRequest[], opts: RunOptions = {}): Promise<RolloutResult> {
    const trajs = requests.map((r): Trajectory => ({
      id: r.id, group: r.group, prompt: [...r.prompt], tokens: [], logProbs: [], policy: [], temperature: r.temperature, topP: r.topP ?? 1,
      maxTokens: r.maxTokens, rng: { seed: trajectorySeed(this.seed, r.id), counter: 0 }, iterationTokens: 0, turnStart: 0, status: 'active', versions: [],
    }));
    return this.run(trajs, opts);
  }

  /** Continues paused trajectories (a new iteration: the per-iteration budget starts again). */
  resume(paused: readonly Trajectory[], opts: RunOptions = {}): Promise<RolloutResult> {
    return this.run(paused.map((p) => ({ ...cloneTrajectory(p), status: 'active' as const, iterationTokens: 0 })), opts);
  }

  /** Runs trajectories whose status is 'active' (mutating them); others are returned as they are. */
  async run(trajs: Trajectory[], opts: RunOptions = {}): Promise<RolloutResult> {
    const t0 = performance.now();
    const active = trajs.filter((t) => t.status === 'active');
    const perIter = opts.maxTokensThisIteration ?? Infinity;
    const stats = { rows: active.length, steps: 0, sampled: 0, peakCacheBytes: 0, seconds: 0 };
    for (const t of active) {
      if (t.rng.seed !== trajectorySeed(this.seed, t.id)) throw new KarakoramError('rollout', `trajectory ${t.id} was started under another seed`, 'InferenceEngine');
      this.settle(t, perIter);
    }
    // Reported once each, the moment they end (rollout workers stream these back).
    const report = (t: Trajectory): void => opts.onReport?.(t);
    for (const t of active) if (t.status !== 'active') report(t);
    const live = active.filter((t) => t.status === 'active');
    if (live.length) await this.decode(live, perIter, opts.version, report, stats);
    stats.seconds = (performance.now() - t0) / 1000;
    return { finished: trajs.filter((t) => t.status === 'stopped' || t.status === 'length'), paused: trajs.filter((t) => t.status === 'paused' || t.status === 'active'), stats };
  }

  private async decode(live: Trajectory[], perIter: number, version: number | undefined, report: (t: Trajectory) => void, stats: RolloutResult['stats']): Promise<void> {
    const B = live.length;
    const ctx = live.map((t) => [...t.prompt, ...t.tokens]);
    if (ctx.some((c) => c.length === 0)) throw new KarakoramError('args', 'every prompt needs at least one token', 'InferenceEngine');
    const L = Math.max(...ctx.map((c) => c.length));
    const pads = ctx.map((c) => L - c.length);
    const ids = new Int32Array(B * L).fill(this.pad);
    ctx.forEach((c, b) => ids.set(c, b * L + pads[b]!));
    const cache = this.model.createCache();
    let logits: Tensor | undefined;
    try {
      logits = tidy(() => this.model.prefill(ops.tensor(ids, [B, L], 'i32', this.backend), cache, { pads, lastOnly: true }));
      for (;;) {
        stats.steps++;
        this.liveCacheBytes = cache.length * B * cache.bytesPerToken;
        stats.peakCacheBytes = Math.max(stats.peakCacheBytes, this.liveCacheBytes);
        const V = logits.shape[1]!;
        const rows = (await logits.data()) as Float32Array;
        logits.dispose();
        logits = undefined;
        const feed = new Int32Array(B).fill(this.pad);
        live.forEach((t, b) => {
          if (t.status !== 'active') return;
          const s = sampleToken(rows.subarray(b * V, (b + 1) * V), t.temperature, t.topP, drawAt(t.rng.seed, t.rng.counter));
          t.tokens.push(s.token);
          t.logProbs.push(s.logProb);
          t.policy.push(1);
          t.rng.counter++;
          t.iterationTokens++;
          if (version !== undefined && t.versions[t.versions.length - 1] !== version) t.versions.push(version);
          stats.sampled++;
          feed[b] = s.token;
          if (this.stop.has(s.token)) t.status = 'stopped';
          else this.settle(t, perIter);
          if (t.status !== 'active') report(t);
        });
        if (live.every((t) => t.status !== 'active')) break;
        logits = tidy(() => this.model.decodeStep(ops.tensor(feed, [B, 1], 'i32', this.backend), cache));
      }
    } finally {
      logits?.dispose();
      cache.dispose();
      this.liveCacheBytes = 0;
    }
  }

  /** Applies the budgets to a trajectory that may sample again. */
  private settle(t: Trajectory, perIter: number): void {
    let sampled = 0;
    for (const p of t.policy) sampled += p;
    if (sampled >= t.maxTokens) t.status = 'length';
    else if (t.iterationTokens >= perIter) t.status = 'paused';
  }
}
