/**
 * The one file `karakoram synth --config FILE` reads, validated with zod through core's
 * parseConfig (a bad field fails before any work, naming its path). Relative paths resolve
 * against the config file's directory (loadSynthConfig). Providers use the rephrasing
 * pipeline's provider config: {"kind": "openai", baseURL, model, …} or {"kind": "local", model: DIR}.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseConfig, z } from '@karakoram/core';
import { ProviderConfig } from '@karakoram/data-rephrase';
import { McpServerSpec } from './mcp.js';

const int = () => z.number().int();
/** The synth pipeline's stages, in the order they run. */
export const STAGES = ['tools', 'agents', 'tasks', 'trajectories', 'judge', 'export'] as const;
/** The name of one pipeline stage. */
export type StageName = (typeof STAGES)[number];

/** Zod schema of the agentic data synthesis config (output, stages, providers, MCP servers, per-stage settings). */
export const SynthConfig = z
  .object({
    /** Output directory: tools.jsonl, domains.jsonl, agents.jsonl, tasks.jsonl, trajectories.jsonl, judged.jsonl, sft.jsonl, stats.json (+ *.failures.jsonl). */
    out: z.string(),
    seed: int().nonnegative().default(0),
    /** Stages to run, in pipeline order (default: all). */
    stages: z.array(z.enum(STAGES)).nonempty().default([...STAGES]),
    /** Rerun ids that failed for good before. */
    retryFailed: z.boolean().default(false),
    /** Deterministic templated fallbacks when an LLM reply does not parse (see each stage). */
    fallback: z.boolean().default(true),
    providers: z
      .object({
        /** Every role's provider unless the role has its own. */
        default: ProviderConfig,
        generator: ProviderConfig.optional(),
        agent: ProviderConfig.optional(),
        user: ProviderConfig.optional(),
        toolSimulator: ProviderConfig.optional(),
        judge: ProviderConfig.optional(),
      })
      .strict(),
    llm: z.object({ jsonAttempts: int().positive().default(2), maxTokens: int().positive().default(512) }).strict().default({}),
    mcp: z.object({ servers: z.array(McpServerSpec).default([]), connectTimeoutMs: int().positive().default(20_000), callTimeoutMs: int().positive().default(30_000) }).strict().default({}),
    synthetic: z
      .object({ categories: z.array(z.string().min(1)).default([]), domainsPerCategory: int().positive().default(3), toolsPerDomain: int().positive().default(4) })
      .strict()
      .default({}),
    agents: z
      .object({ count: int().positive().default(4), toolsPerAgent: int().positive().default(4), pinTools: z.array(z.string()).default([]), crossDomain: z.number().min(0).max(1).default(0) })
      .strict()
      .default({}),
    tasks: z.object({ perAgent: int().positive().default(2) }).strict().default({}),
    trajectories: z
      .object({
        maxTurns: int().positive().default(4),
        maxToolRounds: int().positive().default(4),
        maxCallsPerRound: int().positive().default(4),
        maxTokens: int().positive().default(32_000),
        replyMaxTokens: int().positive().default(512),
        temperature: z.number().min(0).max(2).default(0.7),
        /** Bootstrap mode: issue the task's next expected call when the agent makes none (recorded). */
        forceToolCalls: z.boolean().default(false),
        stopToken: z.string().min(1).default('###STOP###'),
        concurrency: int().positive().default(2),
        /** "auto": MCP tools called for real, synthetic ones simulated; "simulated": all simulated. */
        toolMode: z.enum(['auto', 'simulated']).default('auto'),
      })
      .strict()
      .default({}),
    toolSimulator: z
      .object({ useLlm: z.boolean().default(true), failureRate: z.number().min(0).max(1).default(0), temperature: z.number().min(0).max(2).default(0), maxTokens: int().positive().default(256) })
      .strict()
      .default({}),
    user: z.object({ maxTokens: int().positive().default(128), temperature: z.number().min(0).max(2).default(0.7) }).strict().default({}),
    judge: z
      .object({
        /** "fail": an unparsable verdict fails the trajectory ("judge output not JSON"); "rules": bootstrap, the rule checks decide (recorded). */
        onUnparsable: z.enum(['fail', 'rules']).default('fail'),
        maxTokens: int().positive().default(256),
      })
      .strict()
      .default({}),
    progress: z.boolean().default(true),
    queue: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9_-]+$/).default('karakoram-synth'),
        attempts: int().positive().default(2),
        backoffMs: int().nonnegative().default(1000),
        window: int().positive().default(500),
      })
      .strict()
      .default({}),
  })
  .strict();

/** A validated synth config, with defaults filled in. */
export type SynthConfig = z.output<typeof SynthConfig>;
/** A synth config as written (before defaults are applied). */
export type SynthConfigInput = z.input<typeof SynthConfig>;

/** Validates a raw synth config and fills in defaults; throws naming `where` on invalid input. */
export function parseSynthConfig(raw: unknown, where = 'synth config'): SynthConfig {
  return parseConfig(SynthConfig, raw, where);
}

const abs = (base: string, p: string): string => (isAbsolute(p) ? p : resolve(base, p));

/** Makes the config's file paths (output dir, local model checkpoints, stdio MCP server cwd) absolute against `base`. */
export function resolveSynthPaths(cfg: SynthConfig, base: string): SynthConfig {
  const fix = (p: ProviderConfig | undefined): ProviderConfig | undefined => (p?.kind === 'local' ? { ...p, model: abs(base, p.model) } : p);
  const pr = cfg.providers;
  return {
    ...cfg,
    out: abs(base, cfg.out),
    providers: { default: fix(pr.default)!, generator: fix(pr.generator), agent: fix(pr.agent), user: fix(pr.user), toolSimulator: fix(pr.toolSimulator), judge: fix(pr.judge) },
    mcp: { ...cfg.mcp, servers: cfg.mcp.servers.map((s) => (s.transport === 'stdio' ? { ...s, cwd: s.cwd ? abs(base, s.cwd) : base } : s)) },
  };
}

/** Reads and validates a synth config JSON file (parse errors name the file). */
export async function loadSynthConfig(file: string): Promise<SynthConfig> {
  const text = await readFile(file, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  return resolveSynthPaths(parseSynthConfig(raw, file), dirname(resolve(file)));
}

/** Where each stage writes. */
export function synthPaths(cfg: Pick<SynthConfig, 'out'>) {
  const p = (f: string): string => join(cfg.out, f);
  return { tools: p('tools.jsonl'), domains: p('domains.jsonl'), agents: p('agents.jsonl'), tasks: p('tasks.jsonl'), trajectories: p('trajectories.jsonl'), judged: p('judged.jsonl'), sft: p('sft.jsonl'), stats: p('stats.json') };
}
