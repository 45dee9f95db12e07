/**
 * `runSynth`: the stages in order (each one skippable through `stages`, each resumable on its
 * own), in this process. The BullMQ path (queue.ts) runs the trajectory stage as jobs and the
 * rest the same way.
 */
import type { ChatProvider } from '@karakoram/llm';
import { buildProvider, type ProviderConfig } from '@karakoram/data-rephrase';
import { ProgressBar } from '@karakoram/train';
import { synthPaths, type StageName, type SynthConfig } from './config.js';
import { McpPool } from './mcp.js';
import { failuresPath, readRecords, StageFiles } from './stage-io.js';
import { sampleAgents, type AgentSpec } from './stages/agents.js';
import { computeStats, exportSft, readFailures, writeStats, type SftExample, type SynthStats } from './stages/export.js';
import { runJudge, type Verdict } from './stages/judge.js';
import { generateTasks, type TaskSpec } from './stages/tasks.js';
import { listMcpTools, type ToolSpec } from './stages/tools.js';
import { evolveDomains, evolveTools, type DomainRecord } from './stages/tools-synth.js';
import { EpisodeRunner, runTrajectories, type EpisodeHooks, type EpisodeOptions, type Trajectory } from './stages/trajectories.js';

/** Options of {@link runSynth}. */
export interface SynthRunOptions {
  /** Where progress lines go (default: stderr). */
  log?: (s: string) => void;
  hooks?: EpisodeHooks;
  progressStream?: NodeJS.WriteStream;
  /** Replaces the in-process trajectory stage (the queue path). */
  trajectoryStage?: (ctx: SynthContext, tasks: TaskSpec[], agents: Map<string, AgentSpec>, files: StageFiles<Trajectory>) => Promise<void>;
}

/** What a synth run did: per-stage written/failed/total counts, the final stats and the time taken. */
export interface SynthSummary {
  out: string;
  stages: Partial<Record<StageName, { written: number; failed: number; total: number }>>;
  stats?: SynthStats;
  seconds: number;
}

/** The providers of each role (one instance per distinct config) and the MCP pool. */
export class SynthContext {
  private readonly built = new Map<string, Promise<{ provider: ChatProvider; close: () => void }>>();
  readonly pool: McpPool;
  constructor(readonly cfg: SynthConfig) {
    this.pool = new McpPool(cfg.mcp.servers, cfg.mcp.connectTimeoutMs);
  }

  /** The provider for `role` (its own config, else the default), built once per distinct config. */
  async provider(role: 'generator' | 'agent' | 'user' | 'toolSimulator' | 'judge'): Promise<ChatProvider> {
    const pc: ProviderConfig = this.cfg.providers[role] ?? this.cfg.providers.default;
    const key = JSON.stringify(pc);
    let p = this.built.get(key);
    if (!p) this.built.set(key, (p = buildProvider(pc)));
    return (await p).provider;
  }

  /** The episode options derived from the config's trajectory, user and tool simulator settings. */
  episodeOptions(): EpisodeOptions {
    const { cfg } = this;
    const t = cfg.trajectories;
    return {
      maxTurns: t.maxTurns, maxToolRounds: t.maxToolRounds, maxCallsPerRound: t.maxCallsPerRound, maxTokens: t.maxTokens, replyMaxTokens: t.replyMaxTokens,
      temperature: t.temperature, seed: cfg.seed, forceToolCalls: t.forceToolCalls,
      user: { stopToken: t.stopToken, maxTokens: cfg.user.maxTokens, jsonAttempts: cfg.llm.jsonAttempts, temperature: cfg.user.temperature, seed: cfg.seed },
      tools: {
        mode: t.toolMode,
        callTimeoutMs: cfg.mcp.callTimeoutMs,
        simulator: { failureRate: cfg.toolSimulator.failureRate, temperature: cfg.toolSimulator.temperature, seed: cfg.seed, useLlm: cfg.toolSimulator.useLlm, maxTokens: cfg.toolSimulator.maxTokens, jsonAttempts: cfg.llm.jsonAttempts },
      },
    };
  }

  /** An episode runner with this config's agent, user and tool simulator providers and the MCP pool. */
  async episodeRunner(hooks?: EpisodeHooks): Promise<EpisodeRunner> {
    return new EpisodeRunner(await this.provider('agent'), await this.provider('user'), this.cfg.toolSimulator.useLlm ? await this.provider('toolSimulator') : undefined, this.pool, this.episodeOptions(), hooks);
  }

  /** Closes the MCP pool and every provider built. */
  async close(): Promise<void> {
    await this.pool.close();
    for (const p of this.built.values()) (await p.catch(() => undefined))?.close();
  }
}

function bar(cfg: SynthConfig, total: number, label: string, opts: SynthRunOptions): () => void {
  const b = cfg.progress ? new ProgressBar(total, label, 'items', opts.progressStream) : undefined;
  let done = 0;
  return () => {
    done++;
    b?.update(done, done);
  };
}

async function stage<T extends { id: string }, R>(name: StageName, path: string, cfg: SynthConfig, summary: SynthSummary, fn: (files: StageFiles<T>) => Promise<R>, log: (s: string) => void): Promise<R> {
  const files = StageFiles.open<T>(name, path, { retryFailed: cfg.retryFailed });
  const before = files.done.size;
  if (files.out.truncatedBytes || files.failures.truncatedBytes) log(`${name}: resume cut a partial last line left by an interrupted run`);
  if (before) log(`${name}: resume, ${before} id(s) already done`);
  try {
    const r = await fn(files);
    summary.stages[name] = { written: files.written, failed: files.failed, total: files.records.length };
    log(`${name}: ${files.written} written, ${files.failed} failed (${files.records.length} in ${path})`);
    return r;
  } finally {
    files.close();
  }
}

/** Runs the configured stages in order (resuming from existing outputs) and returns a summary. */
export async function runSynth(cfg: SynthConfig, opts: SynthRunOptions = {}): Promise<SynthSummary> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const t0 = Date.now();
  const paths = synthPaths(cfg);
  const on = (s: StageName): boolean => cfg.stages.includes(s);
  const summary: SynthSummary = { out: cfg.out, stages: {}, seconds: 0 };
  const ctx = new SynthContext(cfg);
  const evolve = { domainsPerCategory: cfg.synthetic.domainsPerCategory, toolsPerDomain: cfg.synthetic.toolsPerDomain, seed: cfg.seed, jsonAttempts: cfg.llm.jsonAttempts, maxTokens: cfg.llm.maxTokens, fallback: cfg.fallback };
  try {
    if (on('tools')) {
      let domains: DomainRecord[] = [];
      if (cfg.synthetic.categories.length) {
        const gen = await ctx.provider('generator');
        domains = await stage<DomainRecord, DomainRecord[]>('tools', paths.domains, cfg, { stages: {}, out: '', seconds: 0 }, async (f) => {
          await evolveDomains(gen, cfg.synthetic.categories, f, evolve);
          return [...f.records];
        }, () => undefined);
      }
      await stage<ToolSpec, void>('tools', paths.tools, cfg, summary, async (f) => {
        if (cfg.mcp.servers.length) await listMcpTools(cfg.mcp.servers, f, ctx.pool, log);
        if (domains.length) await evolveTools(await ctx.provider('generator'), domains, f, evolve);
      }, log);
    }
    if (on('agents')) {
      const tools = await readRecords<ToolSpec>(paths.tools);
      await stage<AgentSpec, void>('agents', paths.agents, cfg, summary, async (f) => {
        for (const a of sampleAgents(tools, { count: cfg.agents.count, toolsPerAgent: cfg.agents.toolsPerAgent, seed: cfg.seed, pinTools: cfg.agents.pinTools, crossDomain: cfg.agents.crossDomain })) if (!f.isDone(a.id)) f.write(a);
      }, log);
    }
    if (on('tasks')) {
      const agents = await readRecords<AgentSpec>(paths.agents);
      const gen = await ctx.provider('generator');
      await stage<TaskSpec, void>('tasks', paths.tasks, cfg, summary, (f) =>
        generateTasks(gen, agents, f, { perAgent: cfg.tasks.perAgent, jsonAttempts: cfg.llm.jsonAttempts, maxTokens: cfg.llm.maxTokens, seed: cfg.seed, fallback: cfg.fallback }, bar(cfg, agents.length * cfg.tasks.perAgent, 'tasks', opts)), log);
    }
    if (on('trajectories')) {
      const tasks = await readRecords<TaskSpec>(paths.tasks);
      const agents = new Map((await readRecords<AgentSpec>(paths.agents)).map((a) => [a.id, a]));
      await stage<Trajectory, void>('trajectories', paths.trajectories, cfg, summary, async (f) => {
        if (opts.trajectoryStage) return opts.trajectoryStage(ctx, tasks, agents, f);
        return runTrajectories(await ctx.episodeRunner(opts.hooks), tasks, agents, f, { concurrency: cfg.trajectories.concurrency, tick: bar(cfg, tasks.length, 'trajectories', opts) });
      }, log);
    }
    if (on('judge')) {
      const trajectories = await readRecords<Trajectory>(paths.trajectories);
      const tasks = new Map((await readRecords<TaskSpec>(paths.tasks)).map((t) => [t.id, t]));
      const judge = await ctx.provider('judge');
      await stage<Verdict, void>('judge', paths.judged, cfg, summary, (f) =>
        runJudge(judge, trajectories, tasks, f, { onUnparsable: cfg.judge.onUnparsable, jsonAttempts: cfg.llm.jsonAttempts, maxTokens: cfg.judge.maxTokens, seed: cfg.seed, tick: bar(cfg, trajectories.length, 'judge', opts) }), log);
    }
    if (on('export')) {
      const trajectories = await readRecords<Trajectory>(paths.trajectories);
      const verdicts = await readRecords<Verdict>(paths.judged);
      let exported = 0;
      await stage<SftExample, void>('export', paths.sft, cfg, summary, async (f) => {
        exportSft(trajectories, verdicts, f);
        exported = f.records.length;
      }, log);
      const failures = await readFailures([paths.domains, paths.tools, paths.agents, paths.tasks, paths.trajectories, paths.judged, paths.sft].map(failuresPath));
      summary.stats = computeStats(trajectories, verdicts, exported, failures);
      writeStats(paths.stats, summary.stats);
    }
  } finally {
    await ctx.close();
  }
  summary.seconds = (Date.now() - t0) / 1000;
  return summary;
}
