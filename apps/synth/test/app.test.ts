import { readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '@karakoram/llm';
import { ChatExampleSchema, ScriptedProvider, loadSynthConfig, synthPaths, type SynthStats } from '@karakoram/agentic';
import { buildProgram } from '@karakoram/cli';
import { CONFIG } from '../src/main.js';

/** `karakoram synth --config FILE` through the CLI, on the example's MCP memory server and an endpoint served here. */
let dir: string;
let server: RunningServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'karakoram-app-synth-'));
  server = await startServer({ provider: new ScriptedProvider(() => ({ content: 'plain text, not JSON' }), 'plain'), port: 0 });
});
afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('app-synth', () => {
  it('the example config is valid', async () => {
    const cfg = await loadSynthConfig(CONFIG);
    expect(cfg.mcp.servers[0]).toMatchObject({ name: 'memory', transport: 'stdio', stateTool: 'read_graph' });
    expect(cfg.trajectories.forceToolCalls).toBe(true);
  });

  it('runs `karakoram synth --config`, then again with nothing left to do; a bad config names its field', async () => {
    const example = JSON.parse(await readFile(CONFIG, 'utf8')) as Record<string, any>;
    const memoryBin = join(__dirname, '..', 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
    const cfg = {
      ...example,
      out: join(dir, 'out'),
      providers: { default: { kind: 'openai', baseURL: `${server.url}/v1`, model: 'plain', apiKey: 'x', maxRetries: 0 } },
      mcp: { servers: [{ ...example.mcp.servers[0], command: process.execPath, args: [memoryBin], env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') } }] },
      progress: false,
    };
    const file = join(dir, 'synth.json');
    await writeFile(file, JSON.stringify(cfg));
    const out: string[] = [];
    const err: string[] = [];
    await buildProgram({ out: (s) => out.push(s), err: (s) => err.push(s) }).parseAsync(['node', 'karakoram', 'synth', '--config', file]);
    expect(out[0]).toMatch(/^synth: tools \d+ new\/\d+, agents 3 new\/3, tasks 3 new\/3, trajectories 3 new\/3, judge 3 new\/3, export \d+ new\/\d+; \d+ exported/);
    const p = synthPaths({ out: join(dir, 'out') });
    const stats = JSON.parse(await readFile(p.stats, 'utf8')) as SynthStats;
    expect(stats.toolsUsed.create_entities?.ok).toBeGreaterThan(0);
    const lines = (await readFile(p.sft, 'utf8')).split('\n').filter(Boolean);
    expect(lines.length).toBe(stats.exported);
    for (const l of lines) expect(ChatExampleSchema.safeParse(JSON.parse(l)).success).toBe(true);

    out.length = 0;
    await buildProgram({ out: (s) => out.push(s), err: (s) => err.push(s) }).parseAsync(['node', 'karakoram', 'synth', '--config', file, '--stage', 'trajectories', '--stage', 'export']);
    expect(out[0]).toMatch(/^synth: trajectories 0 new\/3, export 0 new\/\d+/);

    await writeFile(file, JSON.stringify({ ...cfg, agents: { count: -1 } }));
    await expect(buildProgram({ out: () => undefined, err: () => undefined }).parseAsync(['node', 'karakoram', 'synth', '--config', file])).rejects.toThrow(/agents\.count/);
  });
});
