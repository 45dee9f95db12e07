/**
 * Stage 5: the LLM judge.
 *   in:  trajectories.jsonl (Trajectory), tasks.jsonl (TaskSpec)
 *   out: judged.jsonl, one Verdict per trajectory (id = task id): {pass, score, reasons} from the
 *        judge, with the rule checks beside it; judged.failures.jsonl: verdicts that could not be had
 * The judge answers JSON {"pass": bool, "score": 0..1, "reasons": [...]}; after the attempts, an
 * answer that is not JSON is a final failure with reason "judge output not JSON" (and one that is
 * JSON but not a verdict, "judge verdict malformed"). Bootstrap mode `onUnparsable: "rules"`
 * (tests with a random model; never silent): the failure is recorded (non-final) and the rule
 * checks decide (via: "rules"): every expected call made successfully, in order.
 * Only passing verdicts are exported; the reasons of the rest stay in judged.jsonl.
 * Rerun: ids already judged (or failed for good) are skipped.
 */
import type { ChatProvider } from '@karakoram/llm';
import { chatJson } from '../llm-json.js';
import type { StageFiles } from '../stage-io.js';
import { snippet } from '../util.js';
import type { TaskSpec } from './tasks.js';
import type { Trajectory } from './trajectories.js';

/** The rule checks of one trajectory. */
export interface RuleChecks {
  /** Expected calls matched in order by successful calls / expected calls. */
  milestoneRate: number;
  expectedToolsCalled: boolean;
  invalidCalls: number;
  forcedCalls: number;
  termination: Trajectory['termination'];
}

/** The judged outcome of one trajectory (judged.jsonl). */
export interface Verdict {
  id: string;
  taskId: string;
  domain: string;
  pass: boolean;
  score: number;
  reasons: string[];
  via: 'llm' | 'rules';
  checks: RuleChecks;
}

/** Settings of the judge stage. */
export interface JudgeOptions {
  onUnparsable: 'fail' | 'rules';
  jsonAttempts: number;
  maxTokens: number;
  seed: number;
}

/** Rule-based checks of a trajectory against its task (milestones in order, expected tools, invalid calls). */
export function ruleChecks(t: Trajectory, task: TaskSpec): RuleChecks {
  let i = 0;
  for (const c of t.calls) if (c.ok && task.expectedCalls[i]?.name === c.name) i++;
  const okNames = new Set(t.calls.filter((c) => c.ok).map((c) => c.name));
  return {
    milestoneRate: task.expectedCalls.length ? i / task.expectedCalls.length : 1,
    expectedToolsCalled: task.rubric.expectedTools.every((n) => okNames.has(n)),
    invalidCalls: t.events.filter((e) => e.kind === 'invalid_tool_args' || e.kind === 'args_not_json' || e.kind === 'unknown_tool').length,
    forcedCalls: t.calls.filter((c) => c.forced).length,
    termination: t.termination,
  };
}

const render = (t: Trajectory): string =>
  t.messages
    .slice(1)
    .map((m) => (m.role === 'assistant' && m.tool_calls?.length ? `assistant calls ${m.tool_calls.map((c) => `${c.function.name}(${snippet(c.function.arguments, 200)})`).join(', ')}` : `${m.role}: ${snippet(m.content ?? '', 300)}`))
    .join('\n');

const checkVerdict = (v: unknown): { pass: boolean; score: number; reasons: string[] } | string => {
  const o = v as { pass?: unknown; score?: unknown; reasons?: unknown };
  if (!o || typeof o !== 'object' || typeof o.pass !== 'boolean') return 'judge verdict malformed: expected {"pass": boolean, "score": number, "reasons": [string]}';
  const score = typeof o.score === 'number' && Number.isFinite(o.score) ? Math.min(1, Math.max(0, o.score)) : o.pass ? 1 : 0;
  const reasons = Array.isArray(o.reasons) ? o.reasons.map(String) : typeof o.reasons === 'string' ? [o.reasons] : [];
  return { pass: o.pass, score, reasons };
};

/** Judges one trajectory: a Verdict, or a final failure's reasons. */
export async function judgeOne(judge: ChatProvider, t: Trajectory, task: TaskSpec, o: JudgeOptions): Promise<{ verdict?: Verdict; failure?: { kind: string; reasons: string[]; final: boolean } }> {
  const checks = ruleChecks(t, task);
  const r = await chatJson(
    judge,
    [
      { role: 'system', content: 'You grade an assistant\'s tool-use conversation against a rubric. Answer with JSON only: {"pass": true|false, "score": 0..1, "reasons": ["..."]}.' },
      {
        role: 'user',
        content: `Task: ${task.instruction}\nSuccess criteria:\n${task.rubric.successCriteria.map((s) => `- ${s}`).join('\n')}\nExpected tools (in order): ${task.rubric.expectedTools.join(', ')}\nCheckpoints:\n${task.rubric.checkpoints.map((c) => `- ${c.description}`).join('\n')}\n\nConversation:\n${render(t)}\n\nVerdict:`,
      },
    ],
    checkVerdict,
    { attempts: o.jsonAttempts, maxTokens: o.maxTokens, seed: o.seed },
  );
  const base = { id: t.id, taskId: t.taskId, domain: t.domain, checks };
  if (r.ok) return { verdict: { ...base, ...r.value, via: 'llm' } };
  const kind = r.notJson ? 'judge_not_json' : 'judge_invalid';
  const reasons = [r.notJson ? 'judge output not JSON' : 'judge verdict malformed', ...r.reasons];
  if (o.onUnparsable === 'fail') return { failure: { kind, reasons, final: true } };
  const pass = checks.milestoneRate === 1 && checks.expectedToolsCalled && checks.termination !== 'context_length';
  return {
    failure: { kind, reasons: [...reasons, 'bootstrap: the rule checks decided'], final: false },
    verdict: {
      ...base, pass, score: checks.milestoneRate, via: 'rules',
      reasons: [pass ? 'rules: every expected call was made successfully, in order' : `rules: ${Math.round(checks.milestoneRate * 100)}% of the expected calls made in order`, ...(checks.forcedCalls ? [`${checks.forcedCalls} call(s) forced (bootstrap)`] : [])],
    },
  };
}

/** Judges every trajectory not yet judged and writes one verdict each to `files`. */
export async function runJudge(judge: ChatProvider, trajectories: readonly Trajectory[], tasks: ReadonlyMap<string, TaskSpec>, files: StageFiles<Verdict>, o: JudgeOptions & { tick?: () => void }): Promise<void> {
  for (const t of trajectories) {
    if (files.isDone(t.id)) continue;
    const task = tasks.get(t.taskId);
    if (!task) {
      files.fail({ id: t.id, kind: 'missing_task', reasons: [`task ${t.taskId} is not in tasks.jsonl`], final: true });
      continue;
    }
    const r = await judgeOne(judge, t, task, o);
    if (r.failure) files.fail({ id: r.failure.final ? t.id : `${t.id}#judge`, recordId: t.id, ...r.failure });
    if (r.verdict) files.write(r.verdict);
    o.tick?.();
  }
}
