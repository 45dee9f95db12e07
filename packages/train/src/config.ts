import { BackendConfig, parseConfig, z } from '@karakoram/core';
import { PRESET_NAMES } from '@karakoram/model';

/**
 * The one file `karakoram train --config FILE` reads. Every field is documented in the README's
 * "Training config" section; a bad field fails before any work, naming its path.
 */
export const ModelSource = z.union([
  z.object({ preset: z.enum(PRESET_NAMES as unknown as [string, ...string[]]), overrides: z.record(z.unknown()).default({}) }).strict(),
  z.object({ config: z.record(z.unknown()) }).strict(),
  z.object({ checkpoint: z.string() }).strict(),
]);

/** Training data: text files with a tokenizer, or a JSON file of token-id arrays. */
export const DataSource = z.union([
  z
    .object({
      /** A UTF-8 text file (or several), tokenized with `tokenizer`. */
      text: z.union([z.string(), z.array(z.string()).nonempty()]),
      /** 'byte' (no files needed) or a directory with tokenizer.json / tiktoken.model. */
      tokenizer: z.string().default('byte'),
    })
    .strict(),
  z.object({ /** A JSON file holding an array of token-id arrays. */ tokens: z.string() }).strict(),
]);

/** Optimizer choice (adamw, muon or muonclip) and its hyperparameters. */
export const OptimizerConfig = z
  .object({
    name: z.enum(['adamw', 'muon', 'muonclip']),
    lr: z.number().positive(),
    weightDecay: z.number().nonnegative().default(0.1),
    momentum: z.number().min(0).max(1).default(0.95),
    nesterov: z.boolean().default(true),
    nsDtype: z.enum(['f32', 'bf16']).default('f32'),
    adamBetas: z.tuple([z.number(), z.number()]).default([0.9, 0.95]),
    adamEps: z.number().positive().default(1e-8),
    /** QK-Clip threshold (muonclip). */
    tau: z.number().positive().default(100),
    /** Name patterns forcing parameters to Muon or AdamW, over the role rule. */
    muon: z.array(z.string()).optional(),
    adamw: z.array(z.string()).optional(),
  })
  .strict();

/** Learning-rate schedule: constant, cosine or warmup-stable-decay, with linear warmup. */
export const ScheduleConfig = z
  .object({
    kind: z.enum(['constant', 'cosine', 'wsd']).default('constant'),
    warmupSteps: z.number().int().nonnegative().default(0),
    /** wsd: the length of the final cosine decay. */
    decaySteps: z.number().int().nonnegative().default(0),
    minLr: z.number().nonnegative().default(0),
  })
  .strict();

/** Schema of the whole training config file (`karakoram train --config FILE`). */
export const TrainConfig = z
  .object({
    backend: BackendConfig.default('cpu'),
    seed: z.number().int().nonnegative().default(0),
    model: ModelSource,
    data: DataSource,
    optimizer: OptimizerConfig,
    schedule: ScheduleConfig.default({}),
    steps: z.number().int().positive(),
    batchSize: z.number().int().positive().default(8),
    seqLen: z.number().int().positive().default(128),
    gradAccum: z.number().int().positive().default(1),
    clipNorm: z.number().nonnegative().default(1),
    /** Aux-loss-free router-bias update speed u (DeepSeek-V3: 0.001); 0 turns it off. */
    routerBiasRate: z.number().nonnegative().default(0.001),
    onNonFinite: z.enum(['stop', 'skip']).default('stop'),
    /** Fraction of the token stream held out for validation loss. */
    heldOut: z.number().min(0).max(0.5).default(0.05),
    evalEvery: z.number().int().nonnegative().default(0),
    out: z.string(),
    checkpointEvery: z.number().int().nonnegative().default(0),
    /** Continue from out/latest when it exists. */
    resume: z.boolean().default(true),
    sample: z
      .object({ prompt: z.string(), maxNewTokens: z.number().int().positive().default(64), temperature: z.number().nonnegative().default(0) })
      .strict()
      .optional(),
  })
  .strict();

/** A validated training config (defaults applied). */
export type TrainConfig = z.output<typeof TrainConfig>;
/** A training config as written, before validation and defaults. */
export type TrainConfigInput = z.input<typeof TrainConfig>;

/** Validates a training config; a bad field throws, naming its path, before any work starts. */
export function parseTrainConfig(raw: unknown, where = 'train config'): TrainConfig {
  return parseConfig(TrainConfig, raw, where);
}
