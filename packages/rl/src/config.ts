/**
 * The one file `karakoram rl --config FILE` reads. A bad field fails before any work, naming its
 * path. Paths are relative to the file (the CLI resolves them).
 */
import { BackendConfig, parseConfig, z } from '@karakoram/core';
import { ModelSource } from '@karakoram/train';

const Temperature = z.union([
  z.object({ kind: z.literal('constant'), start: z.number().nonnegative() }).strict(),
  z.object({ kind: z.literal('linear'), start: z.number().nonnegative(), end: z.number().nonnegative(), iterations: z.number().int().positive() }).strict(),
  z.object({ kind: z.literal('exponential'), start: z.number().nonnegative(), end: z.number().nonnegative(), halfLife: z.number().positive() }).strict(),
]);

/** Zod schema of an RL run's config: backend, policy, environment, iterations, sampling, objective and engines. */
export const RlConfig = z
  .object({
    backend: BackendConfig.default('cpu'),
    seed: z.number().int().nonnegative().default(0),
    /** The policy to start from (a checkpoint directory in HF layout, or a preset). Byte tokenizer. */
    model: ModelSource,
    env: z.object({ name: z.enum(['arithmetic', 'reverse', 'calculator']), options: z.record(z.unknown()).default({}) }).strict(),
    iterations: z.number().int().positive().default(20),
    promptsPerIteration: z.number().int().positive().default(8),
    /** K: samples per prompt (mean_r is over them). */
    samplesPerPrompt: z.number().int().positive().default(8),
    /** Partial rollouts: pause a trajectory after this many tokens per iteration. */
    maxTokensThisIteration: z.number().int().positive().optional(),
    /** Subtracted from the reward of a response truncated at the task's token budget. */
    lengthPenalty: z.number().nonnegative().default(0.5),
    temperature: Temperature.default({ kind: 'constant', start: 1 }),
    topP: z.number().gt(0).max(1).default(1),
    objective: z.union([
      z.object({ kind: z.literal('k2'), tau: z.number().positive().default(0.5) }).strict(),
      z.object({ kind: z.literal('grpo'), clip: z.number().positive().default(0.2) }).strict(),
    ]).default({ kind: 'k2', tau: 0.5 }),
    optimizer: z.object({ lr: z.number().positive().default(0.005), weightDecay: z.number().nonnegative().default(0), qkClipTau: z.number().positive().default(100) }).strict().default({}),
    stepsPerIteration: z.number().int().positive().default(1),
    clipNorm: z.number().nonnegative().default(1),
    /** PTX loss: next-token cross-entropy on this text, times weight, added to every update. */
    ptx: z.object({ text: z.string(), weight: z.number().positive().default(0.1), seqLen: z.number().int().positive().default(32), batchSize: z.number().int().positive().default(4) }).strict().optional(),
    sync: z.object({ mode: z.enum(['shared', 'bucketed']).default('shared'), bucketBytes: z.number().int().positive().default(4 << 20) }).strict().default({}),
    /** > 0: rollouts on this many worker threads (weights reach them through the bucketed sync). */
    workers: z.number().int().nonnegative().default(0),
    /** Held-out evaluation (greedy) before RL, every `every` iterations, and after. */
    eval: z.object({ prompts: z.number().int().positive().default(64), every: z.number().int().nonnegative().default(0) }).strict().default({}),
    out: z.string().default('rl-out'),
  })
  .strict();

/** A validated RL config, with defaults filled in. */
export type RlConfig = z.output<typeof RlConfig>;
/** An RL config as written (before defaults are applied). */
export type RlConfigInput = z.input<typeof RlConfig>;

/** Validates a raw RL config and fills in defaults; throws naming `where` on invalid input. */
export function parseRlConfig(raw: unknown, where = 'rl config'): RlConfig {
  return parseConfig(RlConfig, raw, where);
}
