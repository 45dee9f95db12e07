/**
 * Stage 6: export.
 *   in:  trajectories.jsonl (Trajectory), judged.jsonl (Verdict)
 *   out: sft.jsonl, one SftExample per passing trajectory, in OpenAI chat format with tool_calls
 *        (validated with ChatExampleSchema; a line that does not validate is a failure, not
 *        written); stats.json (written whole): pass rates per domain, tools used, turns, failures
 * Rerun: ids already exported are skipped; stats are recomputed from every file.
 */
import { existsSync } from 'node:fs';
import { ChatExampleSchema } from '../chat-schema.js';
import { formatIssues } from '@karakoram/core';
import type { ChatMessage, ToolDefinition } from '@karakoram/llm';
import { readRecords, writeFileAtomic, type FailureRecord, type StageFiles } from '../stage-io.js';
import type { Verdict } from './judge.js';
import type { Trajectory } from './trajectories.js';

/** One SFT example (sft.jsonl): OpenAI chat messages and tools, with metadata. */
export interface SftExample {
  id: string;
  messages: ChatMessage[];
  tools: ToolDefinition[];
  meta: { taskId: string; agentId: string; domain: string; score: number; judge: Verdict['via']; turns: number; forcedCalls: number };
}

/** Summary statistics of a synth run (stats.json). */
export interface SynthStats {
  trajectories: number;
  judged: number;
  passed: number;
  exported: number;
  passRate: number;
  byDomain: Record<string, { judged: number; passed: number; passRate: number }>;
  toolsUsed: Record<string, { calls: number; ok: number }>;
  turns: { mean: number; min: number; max: number; histogram: Record<string, number> };
  terminations: Record<string, number>;
  failures: Record<string, Record<string, number>>;
}

/** The SFT messages of a trajectory (what the agent saw and said). */
export function toSftExample(t: Trajectory, v: Verdict): SftExample {
  const messages = t.messages.map((m): ChatMessage => {
    if (m.role === 'assistant') return m.tool_calls?.length ? { role: 'assistant', content: m.content ?? null, tool_calls: m.tool_calls } : { role: 'assistant', content: m.content ?? '' };
    if (m.role === 'tool') return { role: 'tool', tool_call_id: m.tool_call_id!, content: m.content ?? '' };
    return { role: m.role, content: m.content ?? '' };
  });
  return { id: t.id, messages, tools: t.tools, meta: { taskId: t.taskId, agentId: t.agentId, domain: t.domain, score: v.score, judge: v.via, turns: t.turns, forcedCalls: t.calls.filter((c) => c.forced).length } };
}

/** Writes each passing trajectory as an SFT example (checked against the chat schema); returns the counts exported and invalid. */
export function exportSft(trajectories: readonly Trajectory[], verdicts: readonly Verdict[], files: StageFiles<SftExample>): { exported: number; invalid: number } {
  const byId = new Map(trajectories.map((t) => [t.id, t]));
  let exported = 0;
  let invalid = 0;
  for (const v of verdicts) {
    if (!v.pass || files.isDone(v.id)) continue;
    const t = byId.get(v.id);
    if (!t) continue;
    const ex = toSftExample(t, v);
    const r = ChatExampleSchema.safeParse(ex);
    if (!r.success) {
      invalid++;
      files.fail({ id: v.id, kind: 'invalid_chat_format', reasons: formatIssues(r.error).map((i) => `${i.path}: ${i.message}`), final: true });
      continue;
    }
    if (files.write(ex)) exported++;
  }
  return { exported, invalid };
}

/** The run's stats: counts and pass rates (overall and per domain), tool use, turns, terminations and failures. */
export function computeStats(trajectories: readonly Trajectory[], verdicts: readonly Verdict[], exported: number, failures: readonly FailureRecord[]): SynthStats {
  const byDomain: SynthStats['byDomain'] = {};
  for (const v of verdicts) {
    const d = (byDomain[v.domain] ??= { judged: 0, passed: 0, passRate: 0 });
    d.judged++;
    if (v.pass) d.passed++;
  }
  for (const d of Object.values(byDomain)) d.passRate = d.judged ? d.passed / d.judged : 0;
  const toolsUsed: SynthStats['toolsUsed'] = {};
  const terminations: Record<string, number> = {};
  const hist: Record<string, number> = {};
  for (const t of trajectories) {
    for (const c of t.calls) {
      const u = (toolsUsed[c.name] ??= { calls: 0, ok: 0 });
      u.calls++;
      if (c.ok) u.ok++;
    }
    terminations[t.termination] = (terminations[t.termination] ?? 0) + 1;
    hist[String(t.turns)] = (hist[String(t.turns)] ?? 0) + 1;
  }
  const turns = trajectories.map((t) => t.turns);
  const fails: SynthStats['failures'] = {};
  for (const f of failures) {
    const s = (fails[f.stage] ??= {});
    s[f.kind] = (s[f.kind] ?? 0) + 1;
  }
  const passed = verdicts.filter((v) => v.pass).length;
  return {
    trajectories: trajectories.length,
    judged: verdicts.length,
    passed,
    exported,
    passRate: verdicts.length ? passed / verdicts.length : 0,
    byDomain,
    toolsUsed,
    turns: { mean: turns.length ? turns.reduce((a, b) => a + b, 0) / turns.length : 0, min: turns.length ? Math.min(...turns) : 0, max: turns.length ? Math.max(...turns) : 0, histogram: hist },
    terminations,
    failures: fails,
  };
}

/** Reads every stage's failures file that exists. */
export async function readFailures(paths: readonly string[]): Promise<FailureRecord[]> {
  const out: FailureRecord[] = [];
  for (const p of paths) {
    if (!existsSync(p)) continue;
    // Failure ids may repeat across stages and reruns: read lines without the id-uniqueness rule.
    const rows = await readRecords<FailureRecord & { id: string }>(p, undefined, false).catch(() => []);
    out.push(...rows);
  }
  return out;
}

/** Writes the stats as pretty JSON, atomically. */
export const writeStats = (path: string, s: SynthStats): void => writeFileAtomic(path, `${JSON.stringify(s, null, 2)}\n`);
