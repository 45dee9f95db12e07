/**
 * The tool layer of an episode: a call goes to the real MCP server (callTool through the SDK
 * client) for MCP tools, or to the stateful tool simulator for synthetic tools (and for every
 * tool with mode "simulated").
 *
 * The simulator is a world model kept across the calls of one episode: the LLM sees the tool's
 * spec, the current state (JSON) and the arguments, and answers {"result": ..., "state": {...}};
 * a reply that does not parse falls back to the deterministic WorldModel (world.ts), recorded as
 * via "rules". Controlled randomness: `failureRate` injects a transient failure ("service
 * unavailable") drawn from (seed, episode, call index), so reruns repeat it; `temperature` is
 * the LLM's sampling temperature.
 */
import type { ChatProvider } from '@karakoram/llm';
import { chatJson } from '../llm-json.js';
import { McpConnectionError, type McpConnection, type McpPool } from '../mcp.js';
import type { ToolSpec } from '../stages/tools.js';
import { rng } from '../util.js';
import { WorldModel, type WorldState } from './world.js';

/** The outcome of one tool call as the agent sees it, and where it came from. */
export interface ToolResult {
  ok: boolean;
  /** What the tool message carries back to the agent. */
  content: string;
  backend: 'mcp' | 'simulated';
  /** For simulated calls: the LLM's answer, or the rules fallback. */
  via?: 'llm' | 'rules';
  injectedFailure?: boolean;
}

/** Settings of the stateful tool simulator. */
export interface SimulatorOptions {
  /** Chance of an injected transient failure per simulated call (0: none). */
  failureRate: number;
  temperature: number;
  seed: number;
  /** Ask the LLM (when a provider is given); false: the rules world model only. */
  useLlm: boolean;
  maxTokens: number;
  jsonAttempts: number;
}

/** Settings of an episode's tool layer. */
export interface ToolLayerOptions {
  /** "auto": MCP tools on their servers, synthetic ones simulated; "simulated": everything simulated. */
  mode: 'auto' | 'simulated';
  simulator: SimulatorOptions;
  callTimeoutMs: number;
}

/** One episode's tool layer: sends calls to MCP servers or the simulator and keeps the episode's world state. */
export class EpisodeTools {
  readonly world: WorldModel;
  /** The connection each server got at its first call in this episode: a server that dies mid-episode fails the episode (no silent reconnect to a fresh, stateless server). */
  private readonly conns = new Map<string, McpConnection>();
  tokens = 0;
  constructor(
    readonly episodeId: string,
    private readonly o: ToolLayerOptions,
    private readonly pool: McpPool | undefined,
    private readonly simProvider: ChatProvider | undefined,
    initialState: WorldState = {},
  ) {
    this.world = new WorldModel(initialState);
  }

  /** Calls a tool; an MCP server that is gone throws McpConnectionError (the episode fails). */
  async call(tool: ToolSpec, args: Record<string, unknown>, index: number): Promise<ToolResult> {
    if (tool.origin.kind === 'mcp' && this.o.mode === 'auto') {
      const server = tool.origin.server;
      if (!this.pool) throw new McpConnectionError(server, 'no MCP pool for this run');
      let conn = this.conns.get(server);
      if (!conn) this.conns.set(server, (conn = await this.pool.get(server)));
      const r = await conn.callTool(tool.name, args, this.o.callTimeoutMs);
      return { ok: !r.isError, content: r.text, backend: 'mcp' };
    }
    const s = this.o.simulator;
    if (s.failureRate > 0 && rng(`${s.seed}:${this.episodeId}:${index}`)() < s.failureRate) {
      return { ok: false, content: JSON.stringify({ error: 'service unavailable (simulated transient failure); try again' }), backend: 'simulated', injectedFailure: true };
    }
    if (this.simProvider && s.useLlm) {
      const r = await chatJson(
        this.simProvider,
        [
          { role: 'system', content: 'You simulate a tool backend (a world model). Keep the state consistent across calls. Answer JSON {"result": <what the tool returns>, "state": <the whole new state object>}.' },
          { role: 'user', content: `Tool: ${JSON.stringify({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema })}\nState: ${JSON.stringify(this.world.state)}\nArguments: ${JSON.stringify(args)}` },
        ],
        (v) => {
          const o = v as { result?: unknown; state?: unknown };
          if (!o || typeof o !== 'object' || !('result' in o)) return 'expected {"result", "state"}';
          if (o.state !== undefined && (typeof o.state !== 'object' || o.state === null || Array.isArray(o.state))) return '"state" must be an object';
          return o as { result: unknown; state?: WorldState };
        },
        { attempts: s.jsonAttempts, maxTokens: s.maxTokens, temperature: s.temperature, seed: s.seed + index },
      );
      this.tokens += r.tokens;
      if (r.ok) {
        if (r.value.state) this.world.state = r.value.state;
        const err = (r.value.result as { error?: unknown } | null)?.error;
        return { ok: !err, content: JSON.stringify(r.value.result), backend: 'simulated', via: 'llm' };
      }
    }
    const w = this.world.apply(tool.name, args);
    return { ok: w.ok, content: JSON.stringify(w.result), backend: 'simulated', via: 'rules' };
  }

  /** The episode's final state: the simulated world, and each used MCP server's stateTool result. */
  async snapshot(): Promise<{ simulated: WorldState; mcp: Record<string, unknown> }> {
    const mcp: Record<string, unknown> = {};
    for (const [server, conn] of this.conns) {
      const spec = this.pool?.specs.get(server);
      if (!spec?.stateTool || conn.closed) continue;
      try {
        const r = await conn.callTool(spec.stateTool, {}, this.o.callTimeoutMs);
        try {
          mcp[server] = JSON.parse(r.text);
        } catch {
          mcp[server] = r.text;
        }
      } catch {
        /* a dead server has no state to show */
      }
    }
    return { simulated: this.world.snapshot(), mcp };
  }
}
