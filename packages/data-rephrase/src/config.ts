/**
 * The one file `karakoram rephrase --config FILE` reads, validated with zod through core's
 * parseConfig: a bad field fails before any work, naming its path. Relative paths are resolved
 * against the config file's directory by `loadRephraseConfig`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseConfig, z } from '@karakoram/core';

const int = () => z.number().int();

/** Zod schema of a provider that calls an OpenAI-compatible endpoint. */
export const OpenAIProviderConfig = z
  .object({
    kind: z.literal('openai'),
    /** Default $OPENAI_BASE_URL. */
    baseURL: z.string().url().optional(),
    /** Default $OPENAI_API_KEY. */
    apiKey: z.string().optional(),
    /** Default $KARAKORAM_MODEL. */
    model: z.string().optional(),
    timeoutMs: int().positive().default(60_000),
    maxRetries: int().nonnegative().default(3),
    concurrency: int().positive().default(8),
    requestsPerMinute: z.number().positive().optional(),
    backoffBaseMs: int().nonnegative().default(500),
    backoffMaxMs: int().positive().default(20_000),
  })
  .strict();

/** Zod schema of a provider that runs a local checkpoint in this process. */
export const LocalProviderConfig = z
  .object({
    kind: z.literal('local'),
    /** A checkpoint directory, run in this process. */
    model: z.string(),
    backend: z.string().default('cpu'),
    batchWaitMs: int().nonnegative().default(5),
  })
  .strict();

/** Zod schema of a chat provider: an OpenAI-compatible endpoint or a local checkpoint (by `kind`). */
export const ProviderConfig = z.discriminatedUnion('kind', [OpenAIProviderConfig, LocalProviderConfig]);
/** A validated provider config. */
export type ProviderConfig = z.output<typeof ProviderConfig>;

/** Zod schema of a user-defined rephrasing template: a name, a mode and its style instruction. */
export const CustomTemplate = z
  .object({ name: z.string().min(1), mode: z.enum(['knowledge', 'math']).default('knowledge'), instruction: z.string().min(1) })
  .strict();

/** Zod schema of a rephrase run's config: input and output files, templates, provider, chunking, sampling and verification. */
export const RephraseConfig = z
  .object({
    /** JSONL input: one {id, text} object a line (field names below). */
    input: z.string(),
    /** JSONL output, appended and resumable. */
    output: z.string(),
    /** Malformed input lines and dropped rephrasings (default: OUTPUT with .rejects.jsonl). */
    rejects: z.string().optional(),
    idField: z.string().default('id'),
    textField: z.string().default('text'),
    /** Fail the run at the first malformed input line (default: report it and go on). */
    strict: z.boolean().default(false),
    /** Stop after this many input documents. */
    limit: int().positive().optional(),

    provider: ProviderConfig,
    /** The fidelity judge (default: the rewriting provider). */
    judge: ProviderConfig.optional(),
    /** For chunking: 'byte' or a directory with tokenizer.json / tiktoken.model. */
    tokenizer: z.string().default('byte'),

    /** Rephrasings per document. */
    rephrasings: int().positive().default(1),
    mode: z.enum(['knowledge', 'math']).default('knowledge'),
    /** Template names to draw from (default: every built-in template of `mode`). */
    templates: z.array(z.string()).nonempty().optional(),
    customTemplates: z.array(CustomTemplate).default([]),
    /** Translate chunks to English first: never, when a chunk looks non-English, or always. */
    translate: z.enum(['off', 'auto', 'always']).default('off'),
    /** Target chunk size in tokens. */
    chunkTokens: int().positive().default(256),
    /** How much of the rewritten text so far (tokens, from its end) each chunk sees. */
    contextTokens: int().nonnegative().default(512),
    sampling: z
      .object({
        temperature: z.number().min(0).max(2).default(0.7),
        topP: z.number().gt(0).max(1).default(1),
        maxTokens: int().positive().default(512),
        seed: int().nonnegative().default(0),
        /** Temperature of retries after a failed verification (at least `temperature`). */
        retryTemperature: z.number().min(0).max(2).default(0.9),
      })
      .strict()
      .default({}),
    verify: z
      .object({
        /** 'llm': a judge call with a rubric plus the cheap checks; 'checks': the cheap checks only; 'none'. */
        judge: z.enum(['llm', 'checks', 'none']).default('llm'),
        /** Retry, then drop, rewrites that fail; false records the verdict and keeps them. */
        enforce: z.boolean().default(true),
        /** Share of the source's numbers that must appear in the rewrite. */
        minNumberRecall: z.number().min(0).max(1).default(1),
        /** Share of the source's capitalised entities that must appear. */
        minEntityRecall: z.number().min(0).max(1).default(0.7),
        /** Bounds on word-type Jaccard overlap: below is off-topic, above is a copy. */
        minOverlap: z.number().min(0).max(1).default(0.1),
        maxOverlap: z.number().min(0).max(1).default(0.9),
        judgeMaxTokens: int().positive().default(256),
      })
      .strict()
      .default({}),
    /** Rewrite attempts per rephrasing before it is dropped. */
    maxAttempts: int().positive().default(3),
    /** Rephrasings in flight at once (in-process), or per worker (queue). */
    concurrency: int().positive().default(4),
    progress: z.boolean().default(true),
    queue: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9_-]+$/).default('karakoram-rephrase'),
        /** BullMQ attempts per job (provider failures), with exponential backoff. */
        attempts: int().positive().default(3),
        backoffMs: int().nonnegative().default(1000),
        /** Jobs a minute across every worker (BullMQ limiter); default the provider's requestsPerMinute. */
        jobsPerMinute: z.number().positive().optional(),
        /** Jobs enqueued and awaited at a time by the collecting side. */
        window: int().positive().default(1000),
      })
      .strict()
      .default({}),
  })
  .strict();

/** A validated rephrase config, with defaults filled in. */
export type RephraseConfig = z.output<typeof RephraseConfig>;
/** A rephrase config as written (before defaults are applied). */
export type RephraseConfigInput = z.input<typeof RephraseConfig>;

/** Validates a raw rephrase config and fills in defaults; throws naming `where` on invalid input. */
export function parseRephraseConfig(raw: unknown, where = 'rephrase config'): RephraseConfig {
  return parseConfig(RephraseConfig, raw, where);
}

const abs = (base: string, p: string): string => (isAbsolute(p) ? p : resolve(base, p));

/** Makes the config's file paths absolute against `base`. */
export function resolvePaths(cfg: RephraseConfig, base: string): RephraseConfig {
  const fix = (p: ProviderConfig): ProviderConfig => (p.kind === 'local' ? { ...p, model: abs(base, p.model) } : p);
  return {
    ...cfg,
    input: abs(base, cfg.input),
    output: abs(base, cfg.output),
    rejects: cfg.rejects ? abs(base, cfg.rejects) : undefined,
    provider: fix(cfg.provider),
    judge: cfg.judge ? fix(cfg.judge) : undefined,
    tokenizer: cfg.tokenizer === 'byte' ? 'byte' : abs(base, cfg.tokenizer),
  };
}

/** Reads, validates and resolves a JSON config file. */
export async function loadRephraseConfig(file: string): Promise<RephraseConfig> {
  const text = await readFile(file, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  return resolvePaths(parseRephraseConfig(raw, file), dirname(resolve(file)));
}

/** The rejects file of a run: `cfg.rejects`, else the output path with .rejects.jsonl. */
export const rejectsPath = (cfg: RephraseConfig): string => cfg.rejects ?? cfg.output.replace(/(\.jsonl)?$/, '.rejects.jsonl');
