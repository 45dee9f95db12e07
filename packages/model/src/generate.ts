/**
 * Batched generation over the absorbed-MLA cache. Prompts of different lengths are left-padded;
 * each row gets its own positions (column - pad) and a key mask hiding its padding, so a row's
 * tokens are the same as when it is generated alone. temperature 0 is greedy; otherwise top-p
 * sampling with draws from core's counter-based generator (seed, step, row), so a seed
 * reproduces a run on any backend.
 */
import { KarakoramError, ops, tidy, uniformAt, type Tensor } from '@karakoram/core';
import type { DeepseekV3ForCausalLM } from './transformer.js';

/** How generate()/generateAsync() decode: length limit, sampling (greedy by default) and stop conditions. */
export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (the default) is greedy. */
  temperature?: number;
  /** Nucleus sampling mass (default 1: the whole distribution). */
  topP?: number;
  seed?: number;
  /** A row stops at any of these tokens (not included in its output). */
  stopTokens?: readonly number[];
  /** A row stops when its output ends with one of these (removed from its output). */
  stopSequences?: readonly (readonly number[])[];
  /** The id written into padding columns (never attended to). Default 0. */
  padToken?: number;
}

/** Generated tokens per prompt and why each row finished (a stop token/sequence, or maxNewTokens). */
export interface GenerateResult {
  /** New tokens per row (prompt excluded, stop token / sequence excluded). */
  tokens: number[][];
  finishReasons: ('stop' | 'length')[];
}

/** Picks one token from a probability row: top-p nucleus, inverse CDF at u. */
export function sampleTopP(probs: ArrayLike<number>, topP: number, u: number): number {
  const V = probs.length;
  let order: number[];
  if (topP >= 1) order = Array.from({ length: V }, (_, i) => i);
  else {
    order = Array.from({ length: V }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
    let mass = 0;
    let n = 0;
    while (n < V && (n === 0 || mass < topP)) mass += probs[order[n++]!]!;
    order = order.slice(0, n);
  }
  let total = 0;
  for (const i of order) total += probs[i]!;
  let acc = 0;
  const target = u * total;
  for (const i of order) {
    acc += probs[i]!;
    if (acc > target) return i;
  }
  return order[order.length - 1]!;
}

/**
 * The generation loop, written once for both drivers: it yields the logits of each step and gets
 * back the picked tokens (generate picks with synchronous reads, generateAsync awaits them).
 */
function* loop(model: DeepseekV3ForCausalLM, prompts: readonly (readonly number[])[], opts: GenerateOptions): Generator<{ logits: Tensor; step: number }, GenerateResult, number[]> {
  const B = prompts.length;
  if (B === 0) return { tokens: [], finishReasons: [] };
  if (prompts.some((p) => p.length === 0)) throw new KarakoramError('args', 'every prompt needs at least one token', 'generate');
  const pad = opts.padToken ?? 0;
  const stopTokens = new Set(opts.stopTokens ?? []);
  const stopSeqs = (opts.stopSequences ?? []).filter((s) => s.length > 0);
  const L = Math.max(...prompts.map((p) => p.length));
  const pads = prompts.map((p) => L - p.length);
  const ids = new Int32Array(B * L).fill(pad);
  prompts.forEach((p, b) => ids.set(p, b * L + pads[b]!));

  const out: number[][] = prompts.map(() => []);
  const reasons: ('stop' | 'length' | undefined)[] = prompts.map(() => undefined);
  const cache = model.createCache();
  let logits: Tensor | undefined;
  try {
    logits = tidy(() => model.prefill(ops.tensor(ids, [B, L], 'i32'), cache, { pads, lastOnly: true }));
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const next: number[] = yield { logits: logits!, step };
      logits.dispose();
      for (let b = 0; b < B; b++) {
        if (reasons[b]) continue;
        const t = next[b]!;
        if (stopTokens.has(t)) {
          reasons[b] = 'stop';
          continue;
        }
        out[b]!.push(t);
        const hit = stopSeqs.find((s) => s.length <= out[b]!.length && s.every((v, i) => out[b]![out[b]!.length - s.length + i] === v));
        if (hit) {
          out[b]!.splice(out[b]!.length - hit.length, hit.length);
          reasons[b] = 'stop';
        }
      }
      if (reasons.every((r) => r) || step === opts.maxNewTokens - 1) break;
      const feed = Int32Array.from(next, (t: number, b: number) => (reasons[b] ? pad : t));
      logits = tidy((): Tensor => model.decodeStep(ops.tensor(feed, [B, 1], 'i32'), cache));
    }
  } finally {
    logits?.dispose();
    cache.dispose();
  }
  return { tokens: out, finishReasons: reasons.map((r) => r ?? 'length') };
}

/**
 * Decodes a batch of prompts (left-padded to one length) with the KV cache: prefill once, then one
 * token per step. Reads logits synchronously, so it needs a backend with readSync (see generateAsync).
 */
export function generate(model: DeepseekV3ForCausalLM, prompts: readonly (readonly number[])[], opts: GenerateOptions): GenerateResult {
  const it = loop(model, prompts, opts);
  let r = it.next();
  try {
    while (!r.done) r = it.next(pick(r.value.logits, opts.temperature ?? 0, opts.topP ?? 1, opts.seed ?? 0, r.value.step));
  } finally {
    it.return({ tokens: [], finishReasons: [] });
  }
  return r.value;
}

/**
 * generate() for backends without synchronous reads (webgpu): the same tokens, each step's
 * logits read with await. Works on every backend.
 */
export async function generateAsync(model: DeepseekV3ForCausalLM, prompts: readonly (readonly number[])[], opts: GenerateOptions): Promise<GenerateResult> {
  const it = loop(model, prompts, opts);
  let r = it.next();
  try {
    while (!r.done) r = it.next(await pickAsync(r.value.logits, opts.temperature ?? 0, opts.topP ?? 1, opts.seed ?? 0, r.value.step));
  } finally {
    it.return({ tokens: [], finishReasons: [] });
  }
  return r.value;
}

/** Next token per row from logits [B, V]. */
function pick(logits: Tensor, temperature: number, topP: number, seed: number, step: number): number[] {
  const [B, V] = logits.shape as [number, number];
  if (temperature <= 0) return [...tidy(() => ops.argmax(logits).dataSync())];
  const probs = tidy(() => ops.softmax(ops.div(logits, temperature)).dataSync());
  const res: number[] = [];
  for (let b = 0; b < B; b++) res.push(sampleTopP(probs.subarray(b * V, (b + 1) * V), topP, uniformAt(seed, step * B + b)));
  return res;
}

async function pickAsync(logits: Tensor, temperature: number, topP: number, seed: number, step: number): Promise<number[]> {
  const [B, V] = logits.shape as [number, number];
  const t = tidy(() => (temperature <= 0 ? ops.argmax(logits) : ops.softmax(ops.div(logits, temperature))));
  try {
    const d = await t.data();
    if (temperature <= 0) return [...d];
    const probs = d as Float32Array;
    const res: number[] = [];
    for (let b = 0; b < B; b++) res.push(sampleTopP(probs.subarray(b * V, (b + 1) * V), topP, uniformAt(seed, step * B + b)));
    return res;
  } finally {
    t.dispose();
  }
}
