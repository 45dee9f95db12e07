/**
 * Stage 4: trajectories.
 *   in:  tasks.jsonl (TaskSpec), agents.jsonl (AgentSpec); providers for the agent and the user
 *        simulator (and the tool simulator); MCP servers for real tools
 *   out: trajectories.jsonl, one Trajectory per task (id = task id); trajectories.failures.jsonl:
 *        final failures (an MCP server that died mid-episode, the agent's provider failing) and
 *        non-final events (a call with wrong arguments, a call to an unknown tool, a forced call)
 *
 * The loop: the user simulator speaks (user.ts), then the agent answers, calling tools until it
 * replies with text (at most `maxToolRounds` rounds a turn). Every call's arguments are parsed and
 * validated against the tool's inputSchema (ajv) before the call; a bad call is not made, the
 * agent gets the validation error as the tool result, and it is recorded. Termination: the user
 * is done (stop token or done: true), `maxTurns` user turns, `maxTokens` agent tokens, or the
 * agent's context is full.
 *
 * An agent reply with no parseable tool call is recorded as a text turn (event no_tool_call).
 * Bootstrap mode, `forceToolCalls: true` (testing a random model, bootstrapping a weak one; never
 * silent): when the reply has no call and the task has an expected call not yet made, that call is
 * issued instead, with the arguments from the task (synthesized from the inputSchema for templated
 * tasks), recorded as event forced_tool_call and `forced: true` on the call.
 * Rerun: task ids already written (or failed for good) are skipped.
 */
import { KarakoramError } from '@karakoram/core';
import { Semaphore, type ChatMessage, type ChatProvider, type ToolCall, type ToolDefinition } from '@karakoram/llm';
import { McpConnectionError, type McpPool } from '../mcp.js';
import { validateArgs } from '../schema.js';
import { EpisodeTools, type ToolLayerOptions } from '../sim/tools.js';
import { UserSimulator, type UserSimOptions } from '../sim/user.js';
import type { WorldState } from '../sim/world.js';
import type { FailureRecord, StageFiles } from '../stage-io.js';
import { errMessage, snippet } from '../util.js';
import type { AgentSpec } from './agents.js';
import type { TaskSpec } from './tasks.js';
import { toToolDefinition, type ToolSpec } from './tools.js';

/** One tool call the agent made in an episode. */
export interface TrajectoryCall {
  turn: number;
  id: string;
  name: string;
  /** JSON string, as sent. */
  arguments: string;
  ok: boolean;
  forced: boolean;
  backend: 'mcp' | 'simulated' | 'none';
  error?: string;
}

/** The kinds of {@link TrajectoryEvent}. */
export type EventKind = 'no_tool_call' | 'forced_tool_call' | 'invalid_tool_args' | 'unknown_tool' | 'args_not_json' | 'tool_error' | 'injected_failure' | 'user_template' | 'tool_sim_rules';
/** A noteworthy event in an episode (bad call, forced call, fallback…). */
export interface TrajectoryEvent {
  turn: number;
  kind: EventKind;
  detail: string;
}

/** Why an episode ended. */
export type Termination = 'user_done' | 'max_turns' | 'token_limit' | 'context_length';

/** One episode's record (trajectories.jsonl): the agent's messages, its tool calls, events and how it ended. */
export interface Trajectory {
  id: string;
  taskId: string;
  agentId: string;
  domain: string;
  /** The agent's view in OpenAI chat format: system, user, assistant (tool_calls), tool. */
  messages: ChatMessage[];
  tools: ToolDefinition[];
  calls: TrajectoryCall[];
  events: TrajectoryEvent[];
  termination: Termination;
  /** User turns. */
  turns: number;
  tokens: { agent: number; user: number; tools: number };
  finalState: { simulated: WorldState; mcp: Record<string, unknown> };
}

/** The result of one episode: a trajectory or a final failure, with the non-final failures noted along the way. */
export type EpisodeOutcome = { trajectory: Trajectory; failures: FailureRecord[] } | { failure: FailureRecord; failures: FailureRecord[] };

/** Limits and sampling settings of an episode. */
export interface EpisodeOptions {
  maxTurns: number;
  maxToolRounds: number;
  maxCallsPerRound: number;
  /** Agent tokens (prompt + completion, summed over calls) before the episode stops. */
  maxTokens: number;
  replyMaxTokens: number;
  temperature: number;
  seed: number;
  forceToolCalls: boolean;
  user: UserSimOptions;
  tools: ToolLayerOptions;
}

/** Hooks into an episode (for tests). */
export interface EpisodeHooks {
  /** Called before each tool call that passed validation (tests use it to kill a server mid-episode). */
  beforeToolCall?: (info: { task: TaskSpec; tool: ToolSpec; args: Record<string, unknown>; index: number; pool: McpPool | undefined }) => void | Promise<void>;
}

const isContextLength = (e: unknown): boolean =>
  (e as KarakoramError)?.code === 'context_length' || ((e as { status?: number })?.status === 400 && /context/i.test(errMessage(e)));

/** Runs episodes: the user simulator and the agent take turns, the agent's tool calls going through the tool layer. */
export class EpisodeRunner {
  private readonly user: UserSimulator;
  constructor(
    readonly agent: ChatProvider,
    readonly userProvider: ChatProvider | undefined,
    readonly toolSimulator: ChatProvider | undefined,
    readonly pool: McpPool | undefined,
    readonly o: EpisodeOptions,
    readonly hooks: EpisodeHooks = {},
  ) {
    this.user = new UserSimulator(userProvider, o.user);
  }

  /** Runs one episode of `task` with `agent`, starting from `initialState`; returns the trajectory or the final failure, plus non-final failures. */
  async run(task: TaskSpec, agent: AgentSpec, initialState: WorldState = {}): Promise<EpisodeOutcome> {
    const failures: FailureRecord[] = [];
    const note = (kind: string, reasons: string[], k: number | string): void => {
      failures.push({ id: `${task.id}#${kind}-${k}`, recordId: task.id, stage: 'trajectories', kind, reasons, final: false });
    };
    const fail = (kind: string, reasons: string[]): EpisodeOutcome => ({ failure: { id: task.id, stage: 'trajectories', kind, reasons, final: true }, failures });
    const tools = agent.tools.map(toToolDefinition);
    const byName = new Map(agent.tools.map((t) => [t.name, t]));
    const episode = new EpisodeTools(task.id, this.o.tools, this.pool, this.toolSimulator, initialState);
    const messages: ChatMessage[] = [{ role: 'system', content: agent.systemPrompt }];
    const transcript: { role: 'user' | 'assistant'; content: string }[] = [];
    const calls: TrajectoryCall[] = [];
    const events: TrajectoryEvent[] = [];
    const tokens = { agent: 0, user: 0, tools: 0 };
    let termination: Termination = 'max_turns';
    let turns = 0;
    const called = (): string[] => calls.filter((c) => c.ok).map((c) => c.name);
    /** The first expected call (in order) not yet matched by a successful call. */
    const nextExpected = (): TaskSpec['expectedCalls'][number] | undefined => {
      let i = 0;
      for (const c of calls) if (c.ok && task.expectedCalls[i]?.name === c.name) i++;
      return task.expectedCalls[i];
    };

    try {
      outer: for (let turn = 0; turn < this.o.maxTurns; turn++) {
        const u = await this.user.next(task, transcript, turn, called());
        tokens.user += u.tokens;
        if (u.via === 'template' && this.userProvider) events.push({ turn, kind: 'user_template', detail: snippet((u.reasons ?? []).join('; '), 300) });
        if (u.done && turn > 0) {
          termination = 'user_done';
          break;
        }
        turns++;
        messages.push({ role: 'user', content: u.text });
        transcript.push({ role: 'user', content: u.text });
        for (let round = 0; round < this.o.maxToolRounds; round++) {
          if (tokens.agent >= this.o.maxTokens) {
            termination = 'token_limit';
            break outer;
          }
          let reply: ChatMessage;
          try {
            const r = await this.agent.chat({ messages, tools, max_tokens: this.o.replyMaxTokens, temperature: this.o.temperature, seed: this.o.seed + turn * 101 + round });
            tokens.agent += r.usage?.total_tokens ?? 0;
            reply = r.choices[0]!.message;
          } catch (e) {
            if (isContextLength(e) && turns > 0) {
              termination = 'context_length';
              break outer;
            }
            throw e;
          }
          let toolCalls: ToolCall[] = (reply.tool_calls ?? []).slice(0, this.o.maxCallsPerRound);
          const forced = new Set<number>();
          if (!toolCalls.length) {
            events.push({ turn, kind: 'no_tool_call', detail: snippet(reply.content ?? '', 160) });
            const next = this.o.forceToolCalls ? nextExpected() : undefined;
            if (!next) {
              const text = reply.content ?? '';
              messages.push({ role: 'assistant', content: text });
              transcript.push({ role: 'assistant', content: text });
              break;
            }
            events.push({ turn, kind: 'forced_tool_call', detail: `bootstrap: no parseable call in the reply; issued the expected call ${next.name}` });
            note('forced_tool_call', [`the agent's reply had no parseable tool call; forceToolCalls issued ${next.name}`], calls.length);
            toolCalls = [{ id: '', type: 'function', function: { name: next.name, arguments: JSON.stringify(next.arguments) } }];
            forced.add(0);
          }
          const numbered = toolCalls.map((c, i): ToolCall => ({ id: `call_${calls.length + i}`, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } }));
          messages.push({ role: 'assistant', content: forced.size ? null : reply.content || null, tool_calls: numbered });
          for (let i = 0; i < numbered.length; i++) {
            const c = numbered[i]!;
            const index = calls.length;
            const rec: TrajectoryCall = { turn, id: c.id, name: c.function.name, arguments: c.function.arguments, ok: false, forced: forced.has(i), backend: 'none' };
            calls.push(rec);
            const tool = byName.get(c.function.name);
            let content: string;
            let args: unknown;
            try {
              args = JSON.parse(c.function.arguments || '{}');
            } catch {
              args = undefined;
            }
            if (!tool) {
              rec.error = `unknown tool "${c.function.name}" (agent has: ${[...byName.keys()].join(', ')})`;
              events.push({ turn, kind: 'unknown_tool', detail: rec.error });
              note('unknown_tool', [rec.error], index);
              content = JSON.stringify({ error: rec.error });
            } else if (args === null || typeof args !== 'object' || Array.isArray(args)) {
              rec.error = `arguments are not a JSON object: ${snippet(c.function.arguments, 120)}`;
              events.push({ turn, kind: 'args_not_json', detail: rec.error });
              note('args_not_json', [rec.error], index);
              content = JSON.stringify({ error: rec.error });
            } else {
              const why = validateArgs(tool.inputSchema, args);
              if (why.length) {
                rec.error = `invalid arguments for ${tool.name}: ${why.join('; ')}`;
                events.push({ turn, kind: 'invalid_tool_args', detail: rec.error });
                note('invalid_tool_args', [`${tool.name}(${snippet(c.function.arguments, 200)})`, ...why], index);
                content = JSON.stringify({ error: rec.error });
              } else {
                await this.hooks.beforeToolCall?.({ task, tool, args: args as Record<string, unknown>, index, pool: this.pool });
                const r = await episode.call(tool, args as Record<string, unknown>, index);
                rec.ok = r.ok;
                rec.backend = r.backend;
                if (!r.ok) rec.error = snippet(r.content, 300);
                if (r.injectedFailure) events.push({ turn, kind: 'injected_failure', detail: r.content });
                else if (!r.ok) events.push({ turn, kind: 'tool_error', detail: snippet(r.content, 300) });
                if (r.via === 'rules' && this.toolSimulator && this.o.tools.simulator.useLlm) events.push({ turn, kind: 'tool_sim_rules', detail: `the tool simulator's reply did not parse; the rules world model answered ${tool.name}` });
                content = r.content;
              }
            }
            messages.push({ role: 'tool', tool_call_id: c.id, content });
          }
        }
      }
    } catch (e) {
      if (e instanceof McpConnectionError) return fail('mcp_server_died', [e.message, `after ${calls.length} call(s) in turn ${turns}`]);
      return fail('episode_error', [errMessage(e)]);
    }
    tokens.tools = episode.tokens;
    const finalState = await episode.snapshot();
    return {
      failures,
      trajectory: { id: task.id, taskId: task.id, agentId: agent.id, domain: task.domain, messages, tools, calls, events, termination, turns, tokens, finalState },
    };
  }
}

/** Writes an outcome: the trajectory (or its final failure) and its non-final events. */
export function writeOutcome(files: StageFiles<Trajectory>, o: EpisodeOutcome): void {
  const id = 'trajectory' in o ? o.trajectory.id : o.failure.id;
  if (files.isDone(id)) return;
  for (const f of o.failures) files.fail(f);
  if ('trajectory' in o) files.write(o.trajectory);
  else files.fail(o.failure);
}

/** The in-process run: every pending task through `runner`, `concurrency` at a time. */
export async function runTrajectories(
  runner: EpisodeRunner,
  tasks: readonly TaskSpec[],
  agents: ReadonlyMap<string, AgentSpec>,
  files: StageFiles<Trajectory>,
  o: { concurrency: number; tick?: () => void },
): Promise<void> {
  const sem = new Semaphore(o.concurrency);
  await Promise.all(
    tasks.filter((t) => !files.isDone(t.id)).map((task) =>
      sem.run(async () => {
        const agent = agents.get(task.agentId);
        const outcome: EpisodeOutcome = agent
          ? await runner.run(task, agent)
          : { failure: { id: task.id, stage: 'trajectories', kind: 'missing_agent', reasons: [`agent ${task.agentId} is not in agents.jsonl`], final: true }, failures: [] };
        writeOutcome(files, outcome);
        o.tick?.();
      }),
    ),
  );
}
