/**
 * The RL loop, K2-style colocated: each iteration
 *   rollout (optimizer state offloaded; paused trajectories resumed first, then new prompts)
 *   → reward (environment steps, group advantages)
 *   → train (optimizer state restored; caches already released; one or more optimizer steps)
 *   → sync (checkpoint engine: shared = 0 bytes, or bucketed to a separate model / workers).
 * A group (the K samples of one prompt) is trained on once all K have finished, so mean_r(x) is
 * always over K samples even when some of them were paused across iterations.
 */
import { hash32, type Backend } from '@karakoram/core';
import type { Tokenizer } from '@karakoram/model';
import { JsonlWriter } from '@karakoram/train';
import type { Env, EnvFactory } from './envs/types.js';
import { runEpisodes, type Episode, type RolloutBackend } from './episodes.js';
import { groupAdvantages, type PolicySample } from './objective.js';
import { memoryOf, type MemorySnapshot } from './offload.js';
import { trajectorySeed } from './sampling.js';
import { temperatureAt, type TemperatureSchedule } from './schedule.js';
import type { TrainingEngine, UpdateStats } from './training-engine.js';
import type { SyncReport, WeightSync } from './weight-sync.js';

/** What the controller runs: the environment, rollout backend, trainer and weight sync, and the loop's settings. */
export interface ControllerOptions {
  env: EnvFactory;
  tokenizer: Tokenizer;
  rollout: RolloutBackend;
  trainer: TrainingEngine;
  sync: WeightSync;
  /** The backend whose memory is reported per phase. */
  backend: Backend;
  seed: number;
  promptsPerIteration: number;
  samplesPerPrompt: number;
  temperature: TemperatureSchedule;
  topP?: number;
  maxTokensThisIteration?: number;
  lengthPenalty?: number;
  stepsPerIteration?: number;
  metricsPath?: string;
  /** Receives one formatted line per iteration. */
  log?: (s: string) => void;
}

/** What one iteration did: rewards, episode counts, per-phase seconds and memory, the update's stats and the sync's report. */
export interface IterationReport {
  iteration: number;
  temperature: number;
  /** Mean reward of the episodes that finished this iteration. */
  reward: number;
  finished: number;
  paused: number;
  lost: number;
  truncated: number;
  trainedSamples: number;
  seconds: { rollout: number; reward: number; train: number; sync: number };
  update?: UpdateStats;
  sync: SyncReport;
  memory: { rollout: MemorySnapshot & { peakCacheBytes: number; optimizerOffloadedBytes: number }; train: MemorySnapshot };
}

/** The RL loop: iterates rollout, reward, train and weight sync, carrying paused trajectories and incomplete groups across iterations. */
export class RLController {
  iteration = 0;
  private paused: Episode[] = [];
  private waiting = new Map<number, Episode[]>();
  private readonly metrics: JsonlWriter | undefined;

  constructor(readonly o: ControllerOptions) {
    this.metrics = o.metricsPath ? new JsonlWriter(o.metricsPath) : undefined;
  }

  private newEpisodes(temperature: number): Episode[] {
    const { promptsPerIteration: P, samplesPerPrompt: K } = this.o;
    const out: Episode[] = [];
    for (let p = 0; p < P; p++) {
      const group = this.iteration * P + p;
      const promptSeed = hash32(this.o.seed, group);
      for (let k = 0; k < K; k++) {
        const env: Env = this.o.env();
        const prompt = this.o.tokenizer.encode(env.reset(promptSeed));
        const id = group * K + k;
        out.push({
          env,
          traj: {
            id, group, prompt, tokens: [], logProbs: [], policy: [], temperature, topP: this.o.topP ?? 1, maxTokens: env.tokenBudget,
            rng: { seed: trajectorySeed(this.o.seed, id), counter: 0 }, iterationTokens: 0, turnStart: 0, status: 'active', versions: [],
          },
        });
      }
    }
    return out;
  }

  /** Runs one iteration (rollout → reward → train → sync) and reports its rewards, timings and memory. */
  async iterate(): Promise<IterationReport> {
    const o = this.o;
    const temperature = temperatureAt(o.temperature, this.iteration);
    // -- rollout: the optimizer state leaves the device while the inference engine runs ------
    let t0 = performance.now();
    const off = await o.trainer.offloadOptimizer();
    const rolloutMem = memoryOf(o.backend);
    const resumed = this.paused.map((e) => ({ ...e, traj: { ...e.traj, status: 'active' as const, iterationTokens: 0 } }));
    const episodes = [...resumed, ...this.newEpisodes(temperature)];
    const r = await runEpisodes(o.rollout, episodes, { tokenizer: o.tokenizer, maxTokensThisIteration: o.maxTokensThisIteration, version: this.iteration, lengthPenalty: o.lengthPenalty ?? 0.5 });
    this.paused = [...r.paused, ...r.lost];
    const rolloutSeconds = (performance.now() - t0) / 1000 - r.envSeconds;
    // -- reward: env steps happened during the rollout (timed there); advantages per group ----
    t0 = performance.now();
    const samples: PolicySample[] = [];
    for (const e of r.done) (this.waiting.get(e.traj.group) ?? this.waiting.set(e.traj.group, []).get(e.traj.group)!).push(e);
    const ready: Episode[] = [];
    for (const [g, es] of this.waiting) {
      if (es.length < o.samplesPerPrompt) continue;
      this.waiting.delete(g);
      ready.push(...es);
    }
    const normalise = o.trainer.opts.objective.kind === 'grpo';
    const adv = groupAdvantages(ready.map((e) => e.reward!), ready.map((e) => e.traj.group), normalise);
    ready.forEach((e, i) => samples.push({
      context: [...e.traj.prompt, ...e.traj.tokens], responseStart: e.traj.prompt.length, policy: e.traj.policy,
      oldLogProbs: e.traj.logProbs, temperature: e.traj.temperature, advantage: adv[i]!,
    }));
    const rewardSeconds = r.envSeconds + (performance.now() - t0) / 1000;
    // -- train: caches were released by the engine; the optimizer state comes back -----------
    t0 = performance.now();
    let update: UpdateStats | undefined;
    if (samples.length) update = await o.trainer.update(samples, o.stepsPerIteration ?? 1);
    else o.trainer.restoreOptimizer();
    const trainMem = memoryOf(o.backend);
    const trainSeconds = (performance.now() - t0) / 1000;
    // -- sync: the checkpoint engine -------------------------------------------------------
    const sync = await o.sync.sync();
    const rewards = r.done.map((e) => e.reward!);
    const report: IterationReport = {
      iteration: this.iteration, temperature, reward: rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : NaN,
      finished: r.done.length, paused: r.paused.length, lost: r.lost.length, truncated: r.done.filter((e) => e.info?.truncated).length,
      trainedSamples: samples.length, seconds: { rollout: rolloutSeconds, reward: rewardSeconds, train: trainSeconds, sync: sync.seconds },
      update, sync,
      memory: { rollout: { ...rolloutMem, peakCacheBytes: r.peakCacheBytes, optimizerOffloadedBytes: off.bytes }, train: trainMem },
    };
    this.iteration++;
    this.metrics?.write({ ...report, update: update ? { ...update } : undefined });
    o.log?.(formatIteration(report));
    return report;
  }
}

const mb = (b: number): string => `${(b / 1048576).toFixed(2)}MB`;

/** A one-line summary of an iteration report, for logs. */
export function formatIteration(r: IterationReport): string {
  const s = r.seconds;
  return `iter ${r.iteration} T=${r.temperature.toFixed(2)} reward ${r.reward.toFixed(3)} (${r.finished} done, ${r.paused} paused, ${r.truncated} truncated${r.lost ? `, ${r.lost} lost` : ''})` +
    ` | rollout ${s.rollout.toFixed(2)}s reward ${s.reward.toFixed(3)}s train ${s.train.toFixed(2)}s sync ${s.sync.toFixed(3)}s` +
    ` (${r.sync.mode}: ${mb(r.sync.bytes)} of ${mb(r.sync.modelBytes)} model)` +
    ` | mem rollout ${r.memory.rollout.buffers} buf ${mb(r.memory.rollout.bytes)} (+${mb(r.memory.rollout.peakCacheBytes)} KV peak, ${mb(r.memory.rollout.optimizerOffloadedBytes)} opt on host), train ${r.memory.train.buffers} buf ${mb(r.memory.train.bytes)}` +
    (r.update ? ` | loss ${r.update.lossFirst.toFixed(4)} log-ratio ${r.update.meanLogRatio.toFixed(4)}` : '');
}
