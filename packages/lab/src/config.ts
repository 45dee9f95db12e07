import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { BackendConfig, KarakoramError, parseConfig, z } from '@karakoram/core';

/**
 * The one file `karakoram lab --config FILE` reads. Everything not swept is fixed across points:
 * the base shape (overrides of the 'small' preset), the tokens, the optimizer and the schedule.
 */
const chapters = z.tuple([z.number().int().positive(), z.number().int().positive()]);

/** The zod schema of a lab config (every field has a default except `out`). */
export const LabConfig = z
  .object({
    out: z.string(),
    backend: BackendConfig.default('cpu'),
    /** Each point is trained once per seed (init and batch order); the table reports mean and spread. */
    seeds: z.array(z.number().int().nonnegative()).nonempty().default([0, 1]),
    corpus: z
      .union([
        z
          .object({
            /** Moby-Dick chapters [first, last] (1-based, inclusive) trained on and held out; the ranges must not overlap. */
            mobyDick: z.object({ train: chapters.default([1, 120]), heldOut: chapters.default([130, 135]) }).strict(),
          })
          .strict(),
        z.object({ /** A UTF-8 file; its last `heldOutFraction` is held out. */ text: z.string(), heldOutFraction: z.number().gt(0).lt(0.5).default(0.05) }).strict(),
      ])
      .default({ mobyDick: { train: [1, 120], heldOut: [130, 135] } }),
    /** Overrides of the 'small' preset: the shape every point starts from (byte vocabulary). */
    model: z.record(z.unknown()).default({}),
    train: z
      .object({
        steps: z.number().int().positive().default(120),
        batchSize: z.number().int().positive().default(8),
        seqLen: z.number().int().positive().default(64),
        lr: z.number().positive().default(0.02),
        warmupSteps: z.number().int().nonnegative().default(10),
        weightDecay: z.number().nonnegative().default(0.1),
        tau: z.number().positive().default(100),
        /** Held-out evaluations per run, evenly spaced (the last at the final step): the loss-vs-FLOPs curves. */
        evals: z.number().int().positive().default(4),
      })
      .strict()
      .default({}),
    /** At most this many held-out tokens are evaluated (the same ones for every point). */
    evalTokens: z.number().int().positive().default(8192),
    /** Context length for inference FLOPs and KV-cache bytes (K2's head study: 128k). */
    context: z.number().int().positive().default(131072),
    sparsity: z
      .object({
        /** Routed experts per token, fixed across the sweep (one shared expert besides). */
        active: z.number().int().positive().default(2),
        /** Total routed experts = multiple x active; 1 is the dense equivalent. */
        multiples: z.array(z.number().int().positive()).nonempty().default([1, 4, 8, 16, 24]),
      })
      .strict()
      .nullable()
      .default({}),
    heads: z
      .object({
        /** Attention heads = factor x layers (K2: 64 heads for 61 layers, against 128). */
        factors: z.array(z.number().positive()).nonempty().default([1, 2]),
        /** The sparsity multiple the head study runs at (its factor-1 point reuses that sparsity point). */
        atMultiple: z.number().int().positive().default(8),
      })
      .strict()
      .nullable()
      .default({}),
  })
  .strict();

/** A parsed lab config. */
export type LabConfig = z.output<typeof LabConfig>;
/** A lab config as written (defaults not yet applied). */
export type LabConfigInput = z.input<typeof LabConfig>;

/** Checks and completes a lab config; errors name each bad field. */
export function parseLabConfig(raw: unknown, where = 'lab config'): LabConfig {
  return parseConfig(LabConfig, raw, where);
}

/** The sweep the tests run (well under a minute): 3 shapes x 2 seeds, a few steps each. */
export const SMOKE_LAB: Omit<LabConfigInput, 'out'> = {
  seeds: [0, 1],
  model: { hidden_size: 32, intermediate_size: 64, moe_intermediate_size: 16, q_lora_rank: 16, kv_lora_rank: 8, qk_nope_head_dim: 8, qk_rope_head_dim: 4, v_head_dim: 8 },
  train: { steps: 6, batchSize: 2, seqLen: 32, warmupSteps: 2, evals: 2 },
  evalTokens: 1024,
  sparsity: { active: 2, multiples: [1, 4] },
  heads: { factors: [1, 2], atMultiple: 4 },
};

/**
 * Reads a lab config file: `out` and `corpus.text` are relative to the file; `out` given here
 * wins; `smoke` shrinks the sweep to SMOKE_LAB, keeping the file's corpus.
 */
export async function readLabConfigFile(path: string, o: { out?: string; smoke?: boolean } = {}): Promise<LabConfig> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof SyntaxError) throw new KarakoramError('config', `not valid JSON: ${e.message}`, path);
    throw e;
  }
  const cfg = parseLabConfig(o.smoke ? { ...raw, ...SMOKE_LAB, corpus: raw.corpus } : { out: '.', ...raw }, path);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(resolve(path)), p));
  cfg.out = o.out ? resolve(o.out) : abs(cfg.out);
  if ('text' in cfg.corpus) cfg.corpus.text = abs(cfg.corpus.text);
  return cfg;
}
