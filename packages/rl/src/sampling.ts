/**
 * Token sampling for RL, on the host in float64.
 *
 * Which distribution pi is: pi(token) = softmax(logits / temperature) over the whole vocabulary.
 * The stored log-prob of a sampled token is log pi(token) under that distribution, and the trainer
 * computes the same quantity (log-softmax of the temperature-scaled logits) for the current policy,
 * so log(pi/pi_old) compares like with like. top-p only restricts which tokens may be drawn; it is
 * not folded into pi (with topP < 1 the behaviour policy is the truncated one, so keep topP = 1
 * for on-policy RL, as the defaults do). temperature 0 is greedy and logs log-softmax(logits).
 *
 * Random draws: trajectory `id` under run seed `seed` has its own counter-based stream
 * uniformAt(trajectorySeed(seed, id), k) for its k-th sampled token. The draw depends on nothing
 * else (not the batch, its order, the iteration or the worker), which is what makes a paused and
 * resumed trajectory sample exactly what an uninterrupted one samples.
 */
import { hash32, uniformAt } from '@karakoram/core';
import { sampleTopP } from '@karakoram/model';

/** The seed of one trajectory's random stream. */
export function trajectorySeed(seed: number, id: number): number {
  return hash32(hash32(seed, 0x52_4c), id);
}

/** The uniform used for a trajectory's k-th sampled token. */
export function drawAt(streamSeed: number, k: number): number {
  return uniformAt(streamSeed, k);
}

/** A sampled token and its log-probability. */
export interface Sampled {
  token: number;
  /** log pi(token) with pi = softmax(logits / temperature) (see the file comment). */
  logProb: number;
}

/** Samples one token from a row of logits. */
export function sampleToken(logits: ArrayLike<number>, temperature: number, topP: number, u: number): Sampled {
  const V = logits.length;
  const t = temperature > 0 ? temperature : 1;
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[i]! / t);
  const probs = new Float64Array(V);
  let z = 0;
  for (let i = 0; i < V; i++) z += probs[i] = Math.exp(logits[i]! / t - m);
  const logZ = m + Math.log(z);
  let token: number;
  if (temperature <= 0) {
    token = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[token]!) token = i;
  } else {
    for (let i = 0; i < V; i++) probs[i]! /= z;
    token = sampleTopP(probs, topP, u);
  }
  return { token, logProb: logits[token]! / t - logZ };
}
