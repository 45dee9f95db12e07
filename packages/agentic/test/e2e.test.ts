import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '@karakoram/llm';
import {
  ChatExampleSchema, McpConnection, parseSynthConfig, runSynth, synthPaths,
  type FailureRecord, type SftExample, type SynthConfigInput, type SynthStats, type TaskSpec, type ToolSpec, type Trajectory, type Verdict,
} from '../src/index.js';
import { memoryServer, readJsonlFile, tempDir, tinyCheckpoint } from './helpers.js';

/**
 * End to end: the reference MCP memory server (@modelcontextprotocol/server-memory, over stdio)
 * for real tools, and `karakoram serve` (startServer on a tiny random checkpoint) as every LLM
 * role: generator, user simulator, agent, tool simulator and judge. The model's text is
 * gibberish, so the documented fallbacks carry the pipeline (templated tasks and user turns, the
 * forcing bootstrap for calls, the rules judge), each of them recorded.
 */
let dir: string;
let server: RunningServer;

beforeAll(async () => {
  dir = await tempDir('e2e');
  server = await startServer({ model: await tinyCheckpoint(dir), port: 0, batchWaitMs: 5 });
});
afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const config = (extra: Partial<SynthConfigInput> = {}) =>
  parseSynthConfig({
    out: join(dir, 'out'),
    seed: 1,
    providers: { default: { kind: 'openai', baseURL: `${server.url}/v1`, model: 'tiny-agentic', apiKey: 'unused', maxRetries: 1, backoffBaseMs: 10 } },
    llm: { jsonAttempts: 1, maxTokens: 8 },
    mcp: { servers: [memoryServer(join(dir, 'memory.jsonl'))] },
    synthetic: { categories: ['travel'], domainsPerCategory: 1, toolsPerDomain: 2 },
    agents: { count: 2, toolsPerAgent: 2, pinTools: ['create_entities', 'read_graph'] },
    tasks: { perAgent: 1 },
    trajectories: { maxTurns: 2, maxToolRounds: 3, replyMaxTokens: 8, temperature: 0, forceToolCalls: true, concurrency: 2 },
    user: { maxTokens: 8 },
    toolSimulator: { maxTokens: 8 },
    judge: { onUnparsable: 'rules', maxTokens: 8 },
    progress: false,
    ...extra,
  });

describe('synthesis end to end: MCP memory server + karakoram serve as every LLM role', () => {
  it('lists tools, generates tasks, runs episodes with real tool calls, judges and exports valid chat data; a rerun redoes nothing', async () => {
    const cfg = config();
    const logs: string[] = [];
    const s = await runSynth(cfg, { log: (l) => logs.push(l) });
    const p = synthPaths(cfg);

    // Tools: the memory server's, listed over stdio, and synthetic ones (template fallback, recorded).
    const tools = await readJsonlFile<ToolSpec>(p.tools);
    const names = tools.filter((t) => t.origin.kind === 'mcp').map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['create_entities', 'add_observations', 'read_graph', 'search_nodes', 'open_nodes']));
    const synthetic = tools.filter((t) => t.origin.kind === 'synthetic');
    expect(synthetic.map((t) => t.name.split('_')[0])).toEqual(['create', 'list']);
    expect(synthetic.every((t) => t.origin.kind === 'synthetic' && t.origin.via === 'template' && t.origin.category === 'travel')).toBe(true);
    const toolFailures = await readJsonlFile<FailureRecord>(p.tools.replace('.jsonl', '.failures.jsonl'));
    expect(toolFailures.some((f) => f.kind === 'llm_json' && f.reasons.some((r) => /not JSON/.test(r)))).toBe(true);

    // Tasks: templated from the tools' schemas (the model's output does not parse), recorded as such.
    const tasks = await readJsonlFile<TaskSpec>(p.tasks);
    expect(tasks).toHaveLength(2);
    expect(tasks.every((t) => t.via === 'template')).toBe(true);
    const memTask = tasks.find((t) => t.domain === 'memory')!;
    expect(memTask.expectedCalls.map((c) => c.name)).toEqual(['create_entities', 'read_graph']);

    // Trajectories: real calls to the memory server, forced by the bootstrap and recorded.
    const trajs = await readJsonlFile<Trajectory>(p.trajectories);
    expect(trajs).toHaveLength(2);
    const mem = trajs.find((t) => t.domain === 'memory')!;
    expect(mem.calls.map((c) => [c.name, c.backend, c.ok, c.forced])).toEqual([
      ['create_entities', 'mcp', true, true],
      ['read_graph', 'mcp', true, true],
    ]);
    expect(mem.events.filter((e) => e.kind === 'forced_tool_call')).toHaveLength(2);
    expect(mem.events.some((e) => e.kind === 'no_tool_call')).toBe(true);
    expect(mem.events.some((e) => e.kind === 'user_template')).toBe(true);
    expect(mem.termination).toBe('user_done');
    const entity = (memTask.expectedCalls[0]!.arguments as { entities: { name: string }[] }).entities[0]!.name;
    expect((mem.finalState.mcp.memory as { entities: { name: string }[] }).entities.map((e) => e.name)).toContain(entity);
    const syn = trajs.find((t) => t.domain !== 'memory')!;
    expect(syn.calls.map((c) => [c.name, c.backend, c.ok])).toEqual(synthetic.map((t) => [t.name, 'simulated', true]));
    expect(Object.keys(syn.finalState.simulated)).toEqual([synthetic[0]!.name.replace(/^create_/, '')]);
    expect(syn.events.some((e) => e.kind === 'tool_sim_rules')).toBe(true);

    // The memory server's own state changed: read it with a fresh client on the same file.
    const probe = await McpConnection.open(memoryServer(join(dir, 'memory.jsonl')));
    const graph = JSON.parse((await probe.callTool('read_graph', {})).text) as { entities: { name: string }[] };
    await probe.close();
    expect(graph.entities.map((e) => e.name)).toContain(entity);

    // Judge: not JSON → recorded, and (bootstrap) the rule checks decided.
    const verdicts = await readJsonlFile<Verdict>(p.judged);
    expect(verdicts.map((v) => [v.via, v.pass])).toEqual([['rules', true], ['rules', true]]);
    const judgeFailures = await readJsonlFile<FailureRecord>(p.judged.replace('.jsonl', '.failures.jsonl'));
    expect(judgeFailures.map((f) => f.reasons[0])).toEqual(['judge output not JSON', 'judge output not JSON']);

    // Export: every line is OpenAI chat format with tool_calls.
    const lines = (await readFile(p.sft, 'utf8')).split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      const r = ChatExampleSchema.safeParse(JSON.parse(l));
      expect(r.success, JSON.stringify(r.error?.issues)).toBe(true);
    }
    const ex = JSON.parse(lines.find((l) => l.includes('create_entities'))!) as SftExample;
    expect(ex.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
    expect(ex.messages[2]!.tool_calls![0]).toMatchObject({ id: 'call_0', type: 'function', function: { name: 'create_entities' } });
    expect(ex.messages[3]).toMatchObject({ role: 'tool', tool_call_id: 'call_0' });
    const stats = JSON.parse(await readFile(p.stats, 'utf8')) as SynthStats;
    expect(stats).toMatchObject({ trajectories: 2, judged: 2, passed: 2, exported: 2, passRate: 1 });
    expect(stats.byDomain.memory).toEqual({ judged: 1, passed: 1, passRate: 1 });
    expect(stats.toolsUsed.create_entities).toEqual({ calls: 1, ok: 1 });
    expect(s.stats?.exported).toBe(2);

    // Rerun: every stage resumes with everything done.
    const again = await runSynth(cfg, { log: () => undefined });
    for (const st of Object.values(again.stages)) expect(st.written).toBe(0);
    expect((await readFile(p.sft, 'utf8')).split('\n').filter(Boolean)).toEqual(lines);
  }, 240_000);
});
