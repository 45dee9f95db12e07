/**
 * MCP servers through the official TypeScript SDK (@modelcontextprotocol/sdk): a connection over
 * stdio (a child process) or Streamable HTTP, tool listing and tool calls, and a pool that
 * reconnects a server whose connection closed (a server that died mid-episode fails that
 * episode; the next one gets a fresh connection).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { KarakoramError, z } from '@karakoram/core';
import { errMessage } from './util.js';

/** Zod schema of an MCP server: a stdio command to spawn, or a streamable HTTP URL. */
export const McpServerSpec = z.discriminatedUnion('transport', [
  z.object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/),
    transport: z.literal('stdio'),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: z.record(z.string()).default({}),
    cwd: z.string().optional(),
    /** A read-only tool whose result is the server's state, snapshotted at the end of each episode (e.g. the memory server's read_graph). */
    stateTool: z.string().optional(),
  }).strict(),
  z.object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/),
    transport: z.literal('http'),
    url: z.string().url(),
    headers: z.record(z.string()).default({}),
    stateTool: z.string().optional(),
  }).strict(),
]);
/** One MCP server from the config (stdio or HTTP). */
export type McpServerSpec = z.output<typeof McpServerSpec>;

/** What listTools gives per tool (MCP form). */
export interface McpToolInfo {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

/** The result of one MCP tool call. */
export interface McpCallResult {
  /** The text of the result's content items (non-text items as JSON). */
  text: string;
  isError: boolean;
  structured?: unknown;
}

/** The connection to a server died (or could not be made). */
export class McpConnectionError extends KarakoramError {
  constructor(readonly server: string, message: string) {
    super('mcp', `MCP server "${server}": ${message}`);
    this.name = 'McpConnectionError';
  }
}

/** A live MCP client connection to one server; notes why and when it closed. */
export class McpConnection {
  closed = false;
  closeReason: string | undefined;
  private stderrTail = '';
  private constructor(readonly spec: McpServerSpec, readonly client: Client, readonly transport: StdioClientTransport | StreamableHTTPClientTransport) {}

  /** Connects to the server over its transport (stdio or streamable HTTP), failing after `timeoutMs`. */
  static async open(spec: McpServerSpec, timeoutMs = 20_000): Promise<McpConnection> {
    // The HTTP transport is loaded only when used (it pulls in an SSE parser whose "source"
    // export condition vitest's source-first resolution cannot load).
    const transport =
      spec.transport === 'stdio'
        ? new StdioClientTransport({ command: spec.command, args: spec.args, env: { ...getDefaultEnvironment(), ...spec.env }, cwd: spec.cwd, stderr: 'pipe' })
        : new (await import('@modelcontextprotocol/sdk/client/streamableHttp.js')).StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: spec.headers } });
    const client = new Client({ name: 'karakoram-agentic', version: '0.1.0' });
    const c = new McpConnection(spec, client, transport);
    if (transport instanceof StdioClientTransport) {
      transport.stderr?.on('data', (d: Buffer) => {
        c.stderrTail = (c.stderrTail + d.toString('utf8')).slice(-600);
      });
    }
    client.onclose = () => {
      c.closed = true;
      c.closeReason ??= 'the connection closed';
    };
    client.onerror = (e) => {
      c.closeReason = errMessage(e);
    };
    try {
      await client.connect(transport, { timeout: timeoutMs });
    } catch (e) {
      await client.close().catch(() => undefined);
      throw new McpConnectionError(spec.name, `could not connect (${spec.transport}): ${errMessage(e)}${c.stderrTail ? `; stderr: ${c.stderrTail.trim()}` : ''}`);
    }
    return c;
  }

  /** The server process id (stdio), for supervision and tests. */
  get pid(): number | null {
    return this.transport instanceof StdioClientTransport ? this.transport.pid : null;
  }

  /** Lists all of the server's tools, following pagination cursors. */
  async listTools(): Promise<McpToolInfo[]> {
    const out: McpToolInfo[] = [];
    let cursor: string | undefined;
    do {
      const r = await this.client.listTools(cursor ? { cursor } : undefined);
      for (const t of r.tools) out.push({ name: t.name, description: t.description, inputSchema: t.inputSchema as Record<string, unknown> });
      cursor = r.nextCursor;
    } while (cursor);
    return out;
  }

  /** Calls a tool; a dead or closed connection is an McpConnectionError, a tool-level error is `isError`. */
  async callTool(name: string, args: Record<string, unknown>, timeoutMs = 30_000): Promise<McpCallResult> {
    if (this.closed) throw new McpConnectionError(this.spec.name, `connection closed before calling ${name} (${this.closeReason ?? 'closed'})`);
    let r: Awaited<ReturnType<Client['callTool']>>;
    try {
      r = await this.client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs });
    } catch (e) {
      const code = (e as { code?: number }).code;
      // Protocol-level errors from a live server (unknown tool, invalid params) are the tool's answer.
      if (!this.closed && typeof code === 'number' && code !== -32001 && code !== -32000) return { text: `error: ${errMessage(e)}`, isError: true };
      this.closed = true;
      throw new McpConnectionError(this.spec.name, `died while calling ${name}: ${errMessage(e)}${this.stderrTail ? `; stderr: ${this.stderrTail.trim().slice(-200)}` : ''}`);
    }
    const content = (r.content ?? []) as { type: string; text?: string }[];
    const text = content.map((c) => (c.type === 'text' ? c.text ?? '' : JSON.stringify(c))).join('\n');
    return { text, isError: Boolean(r.isError), structured: r.structuredContent };
  }

  /** Closes the client (and its transport); the connection is marked closed. */
  async close(): Promise<void> {
    this.closed = true;
    await this.client.close().catch(() => undefined);
  }
}

/** One live connection per server, opened on first use and reopened after it closed. */
export class McpPool {
  private readonly conns = new Map<string, Promise<McpConnection>>();
  readonly specs: Map<string, McpServerSpec>;
  /** How many times each server was (re)connected. */
  readonly connects = new Map<string, number>();
  constructor(specs: readonly McpServerSpec[], private readonly timeoutMs = 20_000) {
    this.specs = new Map(specs.map((s) => [s.name, s]));
  }

  /** The live connection to `server`, opening (or reopening) it when needed. */
  async get(server: string): Promise<McpConnection> {
    const spec = this.specs.get(server);
    if (!spec) throw new McpConnectionError(server, `no such server in the config (have: ${[...this.specs.keys()].join(', ') || 'none'})`);
    const cur = this.conns.get(server);
    if (cur) {
      const c = await cur.catch(() => undefined);
      if (c && !c.closed) return c;
      await c?.close();
    }
    const next = McpConnection.open(spec, this.timeoutMs);
    this.conns.set(server, next);
    this.connects.set(server, (this.connects.get(server) ?? 0) + 1);
    next.catch(() => this.conns.delete(server));
    return next;
  }

  /** The live connection, if any (no connecting). */
  async peek(server: string): Promise<McpConnection | undefined> {
    const c = await this.conns.get(server)?.catch(() => undefined);
    return c && !c.closed ? c : undefined;
  }

  /** Closes every open connection. */
  async close(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close()));
  }
}
