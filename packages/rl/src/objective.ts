/**
 * The policy objectives, differentiable through model.forward.
 *
 * K2 (Kimi K2 tech report):
 *   L = mean over prompts x and their K samples y_i of
 *       (r(x, y_i) - mean_r(x) - tau * log(pi(y_i|x) / pi_old(y_i|x)))^2
 * with log pi(y|x) the sum of per-token log-probs of the sampled response tokens (observation
 * tokens of multi-turn episodes excluded) under pi = softmax(logits / temperature), the same
 * distribution the inference engine logged as pi_old (see sampling.ts).
 *
 * GRPO (second choice): per token ratio rho = exp(log pi - log pi_old), group-normalised
 * advantage A = (r - mean_r) / (std_r + eps), loss = -mean_seq mean_tok min(rho A, clip(rho) A).
 */
import { ops, type Tensor } from '@karakoram/core';
import type { DeepseekV3ForCausalLM } from '@karakoram/model';

/** One trajectory as the trainer sees it. */
export interface PolicySample {
  /** prompt + everything after it. */
  context: readonly number[];
  /** Index in `context` of the first token after the prompt. */
  responseStart: number;
  /** Per token after the prompt: 1 sampled by the policy, 0 observation. */
  policy: readonly number[];
  /** Per token after the prompt: log pi_old (NaN for observations). */
  oldLogProbs: readonly number[];
  temperature: number;
  /** r - mean_r (K2) or the normalised advantage (GRPO). */
  advantage: number;
}

/** Right-padded next-token batch (causal attention: padding after a row never affects it). */
export interface PackedBatch {
  N: number;
  T: number;
  ids: Int32Array;
  targets: Int32Array;
  /** 1 where targets[n, t] is a policy token. */
  mask: Float32Array;
  /** log pi_old of targets[n, t] where mask is 1, else 0. */
  oldLogProbs: Float32Array;
  /** Sum of oldLogProbs per row, in float64. */
  oldSums: Float64Array;
  invTemp: Float32Array;
  advantages: Float32Array;
}

/** Packs samples into one right-padded next-token batch with the policy mask, old log-probs and advantages. */
export function packSamples(samples: readonly PolicySample[], padToken = 0): PackedBatch {
  const N = samples.length;
  const T = Math.max(1, ...samples.map((s) => s.context.length - 1));
  const b: PackedBatch = {
    N, T, ids: new Int32Array(N * T).fill(padToken), targets: new Int32Array(N * T).fill(padToken), mask: new Float32Array(N * T),
    oldLogProbs: new Float32Array(N * T), oldSums: new Float64Array(N), invTemp: new Float32Array(N), advantages: new Float32Array(N),
  };
  samples.forEach((s, n) => {
    for (let t = 0; t + 1 < s.context.length; t++) {
      b.ids[n * T + t] = s.context[t]!;
      b.targets[n * T + t] = s.context[t + 1]!;
      const r = t + 1 - s.responseStart;
      if (r >= 0 && s.policy[r] === 1) {
        b.mask[n * T + t] = 1;
        b.oldLogProbs[n * T + t] = s.oldLogProbs[r]!;
        b.oldSums[n] += s.oldLogProbs[r]!;
      }
    }
    b.invTemp[n] = 1 / (s.temperature > 0 ? s.temperature : 1);
    b.advantages[n] = s.advantage;
  });
  return b;
}

/** log pi of every target under the current policy, zero where mask is 0: [N, T]. */
export function tokenLogProbs(model: DeepseekV3ForCausalLM, b: PackedBatch, opts: { recordMaxLogits?: boolean } = {}): Tensor {
  const backend = model.lm_head.weight.backend;
  const logits = model.forward(ops.tensor(b.ids, [b.N, b.T], 'i32', backend), { recordMaxLogits: opts.recordMaxLogits ?? false });
  const V = logits.shape[2]!;
  const scaled = ops.mul(logits, ops.tensor(b.invTemp, [b.N, 1, 1], 'f32', backend));
  const lp = ops.logSoftmax(ops.reshape(scaled, [b.N * b.T, V]));
  const picked = ops.takeAlongLastAxis(lp, ops.tensor(b.targets, [b.N * b.T, 1], 'i32', backend));
  return ops.mul(ops.reshape(picked, [b.N, b.T]), ops.tensor(b.mask, [b.N, b.T], 'f32', backend));
}

/**
 * K2 loss summed over the batch's rows and divided by `denominator` (the number of samples in
 * the whole update, so micro-batch gradients add up to the mean). Also returns log pi per row.
 */
export function k2Loss(model: DeepseekV3ForCausalLM, b: PackedBatch, tau: number, denominator = b.N, opts: { recordMaxLogits?: boolean } = {}): { loss: Tensor; logp: Tensor } {
  const backend = model.lm_head.weight.backend;
  const logp = ops.sum(tokenLogProbs(model, b, opts), 1);
  const logRatio = ops.sub(logp, ops.tensor(Float32Array.from(b.oldSums), [b.N], 'f32', backend));
  const d = ops.sub(ops.tensor(b.advantages, [b.N], 'f32', backend), ops.mul(logRatio, tau));
  return { loss: ops.div(ops.sum(ops.square(d)), denominator), logp };
}

/** The same loss in float64 on the host, from per-row log pi (tests, finite differences). */
export function k2LossHost(logp: ArrayLike<number>, b: PackedBatch, tau: number): number {
  let s = 0;
  for (let n = 0; n < b.N; n++) {
    const d = b.advantages[n]! - tau * (logp[n]! - b.oldSums[n]!);
    s += d * d;
  }
  return s / b.N;
}

/** GRPO clipped surrogate (to minimise), summed over rows and divided by `denominator`. */
export function grpoLoss(model: DeepseekV3ForCausalLM, b: PackedBatch, clip: number, denominator = b.N, opts: { recordMaxLogits?: boolean } = {}): { loss: Tensor; logp: Tensor } {
  const backend = model.lm_head.weight.backend;
  const tok = tokenLogProbs(model, b, opts);
  const mask = ops.tensor(b.mask, [b.N, b.T], 'f32', backend);
  const ratio = ops.exp(ops.sub(tok, ops.tensor(b.oldLogProbs, [b.N, b.T], 'f32', backend)));
  const adv = ops.tensor(b.advantages, [b.N, 1], 'f32', backend);
  const clipped = ops.minimum(ops.maximum(ratio, 1 - clip), 1 + clip);
  const surr = ops.mul(ops.minimum(ops.mul(ratio, adv), ops.mul(clipped, adv)), mask);
  const perSeq = ops.div(ops.sum(surr, 1), ops.maximum(ops.sum(mask, 1), 1));
  return { loss: ops.div(ops.neg(ops.sum(perSeq)), denominator), logp: ops.sum(tok, 1) };
}

/** Advantages within groups: r - mean_r (K2), or (r - mean_r) / (std_r + eps) (GRPO). */
export function groupAdvantages(rewards: readonly number[], groups: readonly number[], normalise: boolean, eps = 1e-6): number[] {
  const by = new Map<number, number[]>();
  groups.forEach((g, i) => (by.get(g) ?? by.set(g, []).get(g)!).push(rewards[i]!));
  const stats = new Map([...by].map(([g, rs]) => {
    const m = rs.reduce((a, r) => a + r, 0) / rs.length;
    const sd = Math.sqrt(rs.reduce((a, r) => a + (r - m) ** 2, 0) / rs.length);
    return [g, { m, sd }] as const;
  }));
  return rewards.map((r, i) => {
    const { m, sd } = stats.get(groups[i]!)!;
    return normalise ? (r - m) / (sd + eps) : r - m;
  });
}
