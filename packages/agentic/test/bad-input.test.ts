import { createServer, type Server } from 'node:http';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatRequest } from '@karakoram/llm';
import { parseSynthConfig, runSynth, synthPaths, type FailureRecord, type Trajectory, type Verdict } from '../src/index.js';
import { memoryServer, readJsonlFile, tempDir } from './helpers.js';

/**
 * Bad inputs, each recorded as a failure with its reasons while the run goes on and what was
 * exported before stays intact: an invalid tool schema (from the generator), a tool call with
 * wrong arguments (from the agent), a provider answering malformed JSON (the judge's endpoint: an
 * HTTP body that is not JSON; the task generator: a reply that is not JSON), and the MCP memory
 * server killed mid-episode. The LLM is a tiny OpenAI-compatible HTTP server written here, with
 * scripted answers per role; the MCP server is the real reference memory server.
 */
let dir: string;
let http: Server;
let url: string;
const mode = { judge: 'good' as 'good' | 'malformed', judgeRequests: 0 };

const reply = (content: string | null, tool_calls?: unknown[]) => ({
  id: 'x', object: 'chat.completion', created: 0, model: 'fake',
  choices: [{ index: 0, message: { role: 'assistant', content, ...(tool_calls ? { tool_calls } : {}) }, finish_reason: tool_calls ? 'tool_calls' : 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

function answer(req: ChatRequest): string {
  const sys = req.messages[0]?.content ?? '';
  if (sys.startsWith('You design realistic software')) return JSON.stringify(reply(JSON.stringify({ domains: [{ name: 'shop_orders', description: 'orders of a shop' }] })));
  if (sys.startsWith('You design tool APIs')) {
    return JSON.stringify(reply(JSON.stringify({
      tools: [
        { name: 'create_order', description: 'Create an order', inputSchema: { type: 'object', properties: { item: { type: 'string' } }, required: ['item'], additionalProperties: false } },
        { name: 'broken_tool', description: 'Invalid schema', inputSchema: { type: 'object', properties: { x: { type: 'nonsense' } } } },
        { name: 'list_orders', description: 'List orders', inputSchema: { type: 'object', properties: {}, additionalProperties: false } },
      ],
    })));
  }
  if (sys.startsWith('You write realistic tool-use tasks')) return JSON.stringify(reply('{"instruction": "unterminated'));
  if (sys.startsWith('You play a user')) return JSON.stringify(reply('ok'));
  if (sys.startsWith('You grade')) {
    mode.judgeRequests++;
    return mode.judge === 'good' ? JSON.stringify(reply('{"pass": true, "score": 0.9, "reasons": ["did it"]}')) : '{"choices": [ {"message": ';
  }
  // The agent: the first reply of a conversation calls its first tool with wrong arguments; then text.
  const madeCalls = req.messages.some((m) => m.role === 'assistant' && m.tool_calls?.length);
  if (req.tools?.length && !madeCalls) return JSON.stringify(reply(null, [{ id: 'c1', type: 'function', function: { name: req.tools[0]!.function.name, arguments: '{"bogus": true}' } }]));
  return JSON.stringify(reply('All done.'));
}

beforeAll(async () => {
  dir = await tempDir('bad');
  http = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(answer(JSON.parse(body) as ChatRequest));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(http.address() as { port: number }).port}/v1`;
});
afterAll(async () => {
  await new Promise((r) => http?.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const config = (perAgent: number) =>
  parseSynthConfig({
    out: join(dir, 'out'),
    providers: { default: { kind: 'openai', baseURL: url, model: 'fake', apiKey: 'x', maxRetries: 1, backoffBaseMs: 1, backoffMaxMs: 5 } },
    llm: { jsonAttempts: 2, maxTokens: 16 },
    mcp: { servers: [memoryServer(join(dir, 'memory.jsonl'))] },
    synthetic: { categories: ['shop'], domainsPerCategory: 1, toolsPerDomain: 3 },
    agents: { count: 2, toolsPerAgent: 2, pinTools: ['create_entities', 'read_graph'] },
    tasks: { perAgent },
    trajectories: { maxTurns: 2, maxToolRounds: 4, forceToolCalls: true, concurrency: 1 },
    toolSimulator: { useLlm: false },
    judge: { onUnparsable: 'fail' },
    progress: false,
  });

describe('bad inputs are recorded as failures with reasons; the run goes on; exported data stays', () => {
  it('invalid schema, wrong arguments, malformed JSON, a dead MCP server', async () => {
    // Run 1: a working judge.
    const cfg1 = config(1);
    const p = synthPaths(cfg1);
    const s1 = await runSynth(cfg1, { log: () => undefined });
    expect(s1.stats).toMatchObject({ trajectories: 2, passed: 2, exported: 2 });
    const exported1 = await readFile(p.sft, 'utf8');
    const failures = async (path: string) => readJsonlFile<FailureRecord>(path.replace('.jsonl', '.failures.jsonl'));

    // The invalid tool schema: a final failure with ajv's reason; its siblings were kept.
    const tf = await failures(p.tools);
    const bad = tf.find((f) => f.id === 'syn:shop_orders/broken_tool')!;
    expect(bad).toMatchObject({ kind: 'invalid_schema', final: true });
    expect(bad.reasons.join(' ')).toMatch(/does not compile as JSON Schema: .*type/);
    expect((await readJsonlFile<{ name: string }>(p.tools)).map((t) => t.name)).toEqual(expect.arrayContaining(['create_order', 'list_orders', 'create_entities']));

    // The task generator's malformed JSON: retried, recorded, templated task used.
    const taskF = await failures(p.tasks);
    expect(taskF).toHaveLength(2);
    expect(taskF[0]!.reasons.slice(0, 2)).toEqual([expect.stringMatching(/^attempt 1: output not JSON/), expect.stringMatching(/^attempt 2: output not JSON/)]);

    // Wrong arguments: validated before the call, not made, recorded; the episode went on.
    const trajF = await failures(p.trajectories);
    const wrong = trajF.filter((f) => f.kind === 'invalid_tool_args');
    expect(wrong).toHaveLength(2);
    expect(wrong.every((f) => f.final === false && f.reasons.some((r) => /must NOT have additional properties|must have required property/.test(r)))).toBe(true);
    const trajs = await readJsonlFile<Trajectory>(p.trajectories);
    for (const t of trajs) {
      expect(t.calls[0]).toMatchObject({ ok: false, backend: 'none', forced: false });
      expect(t.calls[0]!.error).toMatch(/invalid arguments/);
      expect(t.messages[3]).toMatchObject({ role: 'tool', tool_call_id: 'call_0' });
      expect(t.calls.slice(1).every((c) => c.ok && c.forced)).toBe(true);
    }

    // Run 2: one more task per agent; the judge's endpoint answers malformed JSON, and the memory
    // server is killed in the middle of the memory agent's new episode.
    mode.judge = 'malformed';
    mode.judgeRequests = 0;
    let killed = 0;
    const s2 = await runSynth(config(2), {
      log: () => undefined,
      hooks: {
        beforeToolCall: async ({ task, tool, pool }) => {
          // After the episode's first real call (create_entities) succeeded: kill before read_graph.
          if (!task.id.endsWith('task-1') || tool.name !== 'read_graph' || killed) return;
          const conn = await pool!.get('memory');
          process.kill(conn.pid!, 'SIGKILL');
          killed++;
          for (let i = 0; i < 200 && !conn.closed; i++) await new Promise((r) => setTimeout(r, 10));
        },
      },
    });
    expect(killed).toBe(1);
    const trajF2 = await failures(p.trajectories);
    const died = trajF2.find((f) => f.kind === 'mcp_server_died')!;
    expect(died.final).toBe(true);
    expect(died.reasons[0]).toMatch(/MCP server "memory": (died while calling|connection closed before calling) read_graph/);
    expect(died.reasons[1]).toBe('after 3 call(s) in turn 1');
    // The other new episode ran, and its verdict failed: "judge output not JSON" after retries.
    expect((await readJsonlFile<Trajectory>(p.trajectories)).map((t) => t.id).sort()).toHaveLength(3);
    const judgeF = (await failures(p.judged)).filter((f) => f.final);
    expect(judgeF).toHaveLength(1);
    expect(judgeF[0]!.reasons[0]).toBe('judge output not JSON');
    expect(judgeF[0]!.reasons.join(' ')).toMatch(/malformed JSON response/);
    expect(mode.judgeRequests).toBe(4); // 2 attempts × (1 try + 1 provider retry)
    // Nothing exported before was lost, nothing new was exported.
    expect(await readFile(p.sft, 'utf8')).toBe(exported1);
    expect(s2.stats).toMatchObject({ trajectories: 3, judged: 2, exported: 2 });
    expect(s2.stats!.failures.trajectories).toMatchObject({ mcp_server_died: 1 });
    expect(s2.stats!.failures.judge).toMatchObject({ judge_not_json: 1 });
    expect((await readJsonlFile<Verdict>(p.judged)).every((v) => v.pass)).toBe(true);
  }, 60_000);
});
