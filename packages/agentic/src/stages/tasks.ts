/**
 * Stage 3: tasks with rubrics.
 *   in:  agents.jsonl (AgentSpec), an LLM provider (the generator)
 *   out: tasks.jsonl, one TaskSpec per task (id "AGENT/task-J"): instruction, user persona, rubric
 *        (success criteria, expected tool use, checkpoints) and the expected calls (milestones)
 * Validation (validateTask): the rubric and the expected calls name only tools the agent has, and
 * every expected call's arguments satisfy the tool's inputSchema (ajv).
 * The LLM answers JSON; a reply that does not parse or validate is retried, then recorded
 * (kind llm_json) and, with `fallback` (default), replaced by the templated task: the agent's
 * first mutating tool (create/add/update/…) with arguments synthesized from its inputSchema, then
 * a reading tool (read/get/list/search/…) to confirm (via: "template").
 * Rerun: task ids already written (or failed for good) are skipped.
 */
import type { ChatProvider } from '@karakoram/llm';
import { chatJson } from '../llm-json.js';
import { synthesizeArgs, validateArgs } from '../schema.js';
import type { StageFiles } from '../stage-io.js';
import { hash32 } from '../util.js';
import type { AgentSpec } from './agents.js';

/** A tool call the task expects, with its arguments. */
export interface ExpectedCall {
  name: string;
  arguments: Record<string, unknown>;
}
/** One step the task's rubric checks. */
export interface Checkpoint {
  description: string;
  /** The tool this checkpoint is about, when it is one call. */
  tool?: string;
  arguments?: Record<string, unknown>;
}
/** How a task's outcome is judged: success criteria, expected tools and checkpoints. */
export interface Rubric {
  successCriteria: string[];
  expectedTools: string[];
  checkpoints: Checkpoint[];
}
/** A user persona the simulator plays. */
export interface Persona {
  name: string;
  style: string;
  greeting: string;
}
/** One task (tasks.jsonl): an instruction for an agent, the persona asking it, and the rubric and calls it is judged by. */
export interface TaskSpec {
  id: string;
  agentId: string;
  domain: string;
  instruction: string;
  persona: Persona;
  rubric: Rubric;
  /** The expected tool-use pattern, in order (milestones; the forcing bootstrap's source). */
  expectedCalls: ExpectedCall[];
  via: 'llm' | 'template';
}

/** The built-in user personas. */
export const PERSONAS: readonly Persona[] = [
  { name: 'busy-professional', style: 'terse, wants it done fast', greeting: 'Hi, quick one.' },
  { name: 'careful-planner', style: 'precise, double-checks details', greeting: 'Hello, I would like to get this exactly right.' },
  { name: 'newcomer', style: 'polite, unsure of the terms', greeting: 'Hi! I am new to this, could you help me?' },
  { name: 'support-agent', style: 'formal, acting for a customer', greeting: 'Good day, I am handling a request for a customer.' },
  { name: 'student', style: 'curious, asks follow-ups', greeting: 'Hey, I have a question.' },
];

const MUTATING = /^(create|add|set|update|book|insert|put|write|save|register|make|schedule|cancel|delete|remove)/;
const READING = /^(read|get|list|search|find|open|query|lookup|show|fetch)/;
const human = (name: string): string => name.replace(/[_-]+/g, ' ');

/** Why `task` is not valid for `agent` ([] when it is). */
export function validateTask(task: Pick<TaskSpec, 'instruction' | 'rubric' | 'expectedCalls'>, agent: AgentSpec): string[] {
  const have = new Map(agent.tools.map((t) => [t.name, t]));
  const r: string[] = [];
  if (!task.instruction?.trim()) r.push('empty instruction');
  if (!task.rubric.successCriteria.length) r.push('no success criteria');
  for (const t of task.rubric.expectedTools) if (!have.has(t)) r.push(`rubric expects tool "${t}", which agent ${agent.id} does not have`);
  for (const c of task.rubric.checkpoints) if (c.tool && !have.has(c.tool)) r.push(`checkpoint "${c.description}" names tool "${c.tool}", which agent ${agent.id} does not have`);
  for (const c of task.expectedCalls) {
    const tool = have.get(c.name);
    if (!tool) r.push(`expected call to "${c.name}", which agent ${agent.id} does not have`);
    else for (const e of validateArgs(tool.inputSchema, c.arguments)) r.push(`expected call ${c.name}: arguments ${e}`);
  }
  return r;
}

/** The deterministic templated task (the documented fallback). */
export function templateTask(agent: AgentSpec, j: number): TaskSpec {
  const id = `${agent.id}/task-${j}`;
  const mut = agent.tools.filter((t) => MUTATING.test(t.name) && !/^(delete|remove|cancel)/.test(t.name));
  const primary = (mut.length ? mut : agent.tools)[j % (mut.length || agent.tools.length)]!;
  // A reading tool to confirm, preferring ones that need no id (list/search/read) over get-by-id.
  const readers = agent.tools.filter((t) => READING.test(t.name) && t.name !== primary.name);
  const read = readers.find((t) => /^(list|search|read|find|query)/.test(t.name)) ?? readers[0];
  const calls: ExpectedCall[] = [{ name: primary.name, arguments: synthesizeArgs(primary.inputSchema, id) }];
  if (read) calls.push({ name: read.name, arguments: synthesizeArgs(read.inputSchema, `${id}:read`) });
  const persona = PERSONAS[hash32(id) % PERSONAS.length]!;
  return {
    id,
    agentId: agent.id,
    domain: agent.domain,
    instruction: `Please ${human(primary.name)} with these details: ${JSON.stringify(calls[0]!.arguments)}.${read ? ` Then ${human(read.name)} to confirm it worked.` : ''}`,
    persona,
    rubric: {
      successCriteria: [
        `${primary.name} is called with the details the user gave`,
        ...(read ? [`${read.name} is called after it to confirm`] : []),
        'the assistant tells the user the outcome',
      ],
      expectedTools: calls.map((c) => c.name),
      checkpoints: calls.map((c) => ({ description: `call ${c.name}`, tool: c.name, arguments: c.arguments })),
    },
    expectedCalls: calls,
    via: 'template',
  };
}

const strs = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);

/** Parses and validates an LLM task answer. */
export function taskFromJson(v: unknown, agent: AgentSpec, id: string, j: number): TaskSpec | string {
  const o = v as Record<string, unknown>;
  if (!o || typeof o !== 'object' || typeof o.instruction !== 'string') return 'expected {"instruction", "successCriteria", "expectedTools", "checkpoints"}';
  const successCriteria = strs(o.successCriteria) ?? strs((o.rubric as Record<string, unknown> | undefined)?.successCriteria);
  const expectedTools = strs(o.expectedTools) ?? [];
  if (!successCriteria?.length) return '"successCriteria" must be a non-empty array of strings';
  const checkpoints: Checkpoint[] = Array.isArray(o.checkpoints)
    ? o.checkpoints.map((c: unknown) => (typeof c === 'string' ? { description: c } : { description: String((c as Checkpoint)?.description ?? ''), ...(typeof (c as Checkpoint)?.tool === 'string' ? { tool: (c as Checkpoint).tool } : {}) }))
    : [];
  const byName = new Map(agent.tools.map((t) => [t.name, t]));
  const expectedCalls: ExpectedCall[] = Array.isArray(o.expectedCalls)
    ? (o.expectedCalls as { name?: unknown; arguments?: unknown }[]).map((c) => ({ name: String(c?.name), arguments: (c?.arguments && typeof c.arguments === 'object' ? c.arguments : {}) as Record<string, unknown> }))
    : expectedTools.map((name, k) => ({ name, arguments: byName.has(name) ? synthesizeArgs(byName.get(name)!.inputSchema, `${id}:${k}`) : {} }));
  const persona = PERSONAS[(typeof o.persona === 'string' ? hash32(o.persona) : hash32(id)) % PERSONAS.length]!;
  const task: TaskSpec = { id, agentId: agent.id, domain: agent.domain, instruction: o.instruction, persona, rubric: { successCriteria, expectedTools, checkpoints }, expectedCalls, via: 'llm' };
  void j;
  const why = validateTask(task, agent);
  return why.length ? `invalid task: ${why.join('; ')}` : task;
}

/** Settings of task generation. */
export interface TaskGenOptions {
  perAgent: number;
  jsonAttempts: number;
  maxTokens: number;
  seed: number;
  fallback: boolean;
}

/** Generates `o.perAgent` tasks per agent with the LLM (or the template fallback) into `files`, skipping those already done. */
export async function generateTasks(provider: ChatProvider, agents: readonly AgentSpec[], files: StageFiles<TaskSpec>, o: TaskGenOptions, tick: () => void = () => undefined): Promise<void> {
  for (const agent of agents) {
    for (let j = 0; j < o.perAgent; j++) {
      const id = `${agent.id}/task-${j}`;
      if (files.isDone(id)) continue;
      const tools = agent.tools.map((t) => `- ${t.name}: ${t.description}`).join('\n');
      const r = await chatJson(
        provider,
        [
          { role: 'system', content: 'You write realistic tool-use tasks with grading rubrics. Answer with JSON only.' },
          { role: 'user', content: `An assistant for ${agent.domain} has these tools:\n${tools}\nWrite task ${j + 1}: a user request needing these tools. Answer {"instruction": "...", "persona": "...", "successCriteria": ["..."], "expectedTools": ["tool names in call order"], "checkpoints": [{"description": "...", "tool": "name"}]}.` },
        ],
        (v) => taskFromJson(v, agent, id, j),
        { attempts: o.jsonAttempts, maxTokens: o.maxTokens, seed: o.seed + j },
      );
      if (r.ok) files.write(r.value);
      else {
        files.fail({ id: o.fallback ? `${id}#llm` : id, recordId: id, kind: 'llm_json', reasons: [...r.reasons, o.fallback ? 'fell back to the templated task' : 'no fallback: task skipped'], final: !o.fallback });
        if (o.fallback) files.write(templateTask(agent, j));
      }
      tick();
    }
  }
}
