/**
 * Evaluating a model (any ChatProvider as the agent) on tool-use tasks, tau-bench and ACEBench
 * style: each task runs `trials` times against the deterministic simulated world (initial state
 * → the agent's calls → final state); a trial succeeds when the final state equals the expected
 * state (by default the expected calls replayed on the initial state) and, when the task has an
 * expected answer, the final assistant text contains it. Per task: successes, pass^k for each k,
 * end accuracy (successes / trials) and process accuracy (milestones matched in order, averaged).
 * Trials differ by seed (sampling, and injected failures when `failureRate` > 0).
 */
import type { ChatProvider } from '@karakoram/llm';
import type { AgentSpec } from '../stages/agents.js';
import type { ExpectedCall, TaskSpec } from '../stages/tasks.js';
import { EpisodeRunner, type EpisodeOptions } from '../stages/trajectories.js';
import { replayCalls, type WorldState } from '../sim/world.js';
import { compareState, meanPassHatK, passHatK, processAccuracy } from './metrics.js';

/** One evaluation task: the task, the agent that runs it, and the world states it starts from and must reach. */
export interface EvalTask {
  task: TaskSpec;
  agent: AgentSpec;
  initialState?: WorldState;
  /** Default: task.expectedCalls replayed on initialState. */
  expectedState?: WorldState;
  /** Default: task.expectedCalls. */
  milestones?: ExpectedCall[];
  /** A string the final assistant message must contain. */
  expectedAnswer?: string;
}

/** One trial of a task: whether it succeeded, the state differences and answer check behind it, and its process score. */
export interface EvalTrial {
  success: boolean;
  stateDiffs: string[];
  answerOk: boolean;
  process: number;
  calls: number;
  error?: string;
}

/** One task's trials and its pass^k, end accuracy and process accuracy. */
export interface EvalTaskResult {
  id: string;
  trials: EvalTrial[];
  successes: number;
  passK: Record<number, number>;
  endAccuracy: number;
  processAccuracy: number;
}

/** The result of {@link evaluateModel}: per-task results and their means. */
export interface EvalReport {
  tasks: EvalTaskResult[];
  passK: Record<number, number>;
  endAccuracy: number;
  processAccuracy: number;
}

/** Options of {@link evaluateModel}. */
export interface EvalOptions {
  trials: number;
  /** The k of pass^k to report (each ≤ trials). Default [1, trials]. */
  k?: number[];
  /** The user simulator's provider (default: persona-templated turns). */
  user?: ChatProvider;
  failureRate?: number;
  seed?: number;
  episode?: Partial<Omit<EpisodeOptions, 'tools' | 'user'>>;
}

/** Runs each task `o.trials` times with `agent` against the simulated world and reports per-task and mean pass^k, end accuracy and process accuracy. */
export async function evaluateModel(agent: ChatProvider, tasks: readonly EvalTask[], o: EvalOptions): Promise<EvalReport> {
  const ks = [...new Set(o.k ?? [1, o.trials])].filter((k) => k >= 1 && k <= o.trials).sort((a, b) => a - b);
  const results: EvalTaskResult[] = [];
  for (const t of tasks) {
    const initial = t.initialState ?? {};
    const expected = t.expectedState ?? replayCalls(initial, t.task.expectedCalls);
    const milestones = t.milestones ?? t.task.expectedCalls;
    const trials: EvalTrial[] = [];
    for (let i = 0; i < o.trials; i++) {
      const seed = (o.seed ?? 0) + i;
      const runner = new EpisodeRunner(agent, o.user, undefined, undefined, {
        maxTurns: 3, maxToolRounds: 6, maxCallsPerRound: 4, maxTokens: 1e9, replyMaxTokens: 256, temperature: 0, forceToolCalls: false, ...o.episode, seed,
        user: { stopToken: '###STOP###', maxTokens: 128, jsonAttempts: 1, temperature: 0.7, seed },
        tools: { mode: 'simulated', callTimeoutMs: 30_000, simulator: { failureRate: o.failureRate ?? 0, temperature: 0, seed, useLlm: false, maxTokens: 1, jsonAttempts: 1 } },
      });
      const out = await runner.run({ ...t.task, id: `${t.task.id}#trial-${i}` }, t.agent, initial);
      if (!('trajectory' in out)) {
        trials.push({ success: false, stateDiffs: [], answerOk: false, process: 0, calls: 0, error: out.failure.reasons.join('; ') });
        continue;
      }
      const tr = out.trajectory;
      const state = compareState(expected, tr.finalState.simulated);
      const lastText = [...tr.messages].reverse().find((m) => m.role === 'assistant' && !m.tool_calls?.length)?.content ?? '';
      const answerOk = t.expectedAnswer === undefined || lastText.includes(t.expectedAnswer);
      const made = tr.calls.filter((c) => c.ok).map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) as Record<string, unknown> }));
      trials.push({ success: state.equal && answerOk, stateDiffs: state.diffs, answerOk, process: processAccuracy(milestones, made), calls: tr.calls.length });
    }
    const successes = trials.filter((x) => x.success).length;
    results.push({
      id: t.task.id,
      trials,
      successes,
      passK: Object.fromEntries(ks.map((k) => [k, passHatK(successes, o.trials, k)])),
      endAccuracy: successes / o.trials,
      processAccuracy: trials.reduce((a, x) => a + x.process, 0) / o.trials,
    });
  }
  const n = results.length || 1;
  return {
    tasks: results,
    passK: Object.fromEntries(ks.map((k) => [k, meanPassHatK(results.map((r) => ({ successes: r.successes, trials: o.trials })), k)])),
    endAccuracy: results.reduce((a, r) => a + r.endAccuracy, 0) / n,
    processAccuracy: results.reduce((a, r) => a + r.processAccuracy, 0) / n,
  };
}
