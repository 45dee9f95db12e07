/**
 * Stage 1a: tool specs from real MCP servers.
 *   in:  McpServerSpec[] (config: mcp.servers)
 *   out: tools.jsonl, one ToolSpec per tool (id "mcp:SERVER/TOOL"); tools.failures.jsonl: a server
 *        that cannot be reached (id "mcp:SERVER"), a tool whose inputSchema is invalid (ajv)
 * Rerun: a server whose listing was written (or failed for good) is skipped, by tool id.
 */
import type { ToolDefinition } from '@karakoram/llm';
import { McpPool, type McpServerSpec } from '../mcp.js';
import { checkToolSchema, schemaHash, type JsonSchema } from '../schema.js';
import type { StageFiles } from '../stage-io.js';
import { errMessage, normalizeName } from '../util.js';

/** A tool in MCP form ({name, description, inputSchema}) plus where it came from. */
export interface ToolSpec {
  /** "mcp:SERVER/NAME" or "syn:DOMAIN/NAME". */
  id: string;
  name: string;
  description: string;
  inputSchema: JsonSchema;
  /** The MCP server's name, or the synthetic domain. */
  domain: string;
  origin: { kind: 'mcp'; server: string } | { kind: 'synthetic'; category: string; domain: string; via: 'llm' | 'template' };
  schemaHash: string;
}

/** The id of an MCP server's tool ("mcp:SERVER/NAME"). */
export const mcpToolId = (server: string, name: string): string => `mcp:${server}/${name}`;

/** A ToolSpec as an OpenAI function tool. */
export const toToolDefinition = (t: Pick<ToolSpec, 'name' | 'description' | 'inputSchema'>): ToolDefinition => ({
  type: 'function',
  function: { name: t.name, description: t.description, parameters: t.inputSchema },
});

/** Dedup key: normalized name + schema hash. */
export const toolKey = (t: Pick<ToolSpec, 'name' | 'inputSchema'>): string => `${normalizeName(t.name)}#${schemaHash(t.inputSchema)}`;

/** Counts from listing the MCP servers' tools. */
export interface McpListingSummary {
  servers: number;
  tools: number;
  invalid: number;
  unreachable: number;
}

/** Lists every server's tools into `files` (validated, deduplicated by toolKey). */
export async function listMcpTools(servers: readonly McpServerSpec[], files: StageFiles<ToolSpec>, pool: McpPool, log: (s: string) => void = () => undefined): Promise<McpListingSummary> {
  const s: McpListingSummary = { servers: 0, tools: 0, invalid: 0, unreachable: 0 };
  const keys = new Set(files.records.map(toolKey));
  for (const spec of servers) {
    if (files.records.some((t) => t.origin.kind === 'mcp' && t.origin.server === spec.name) || files.isDone(`mcp:${spec.name}`)) {
      log(`tools: ${spec.name} already listed`);
      continue;
    }
    s.servers++;
    let listed;
    try {
      listed = await (await pool.get(spec.name)).listTools();
    } catch (e) {
      s.unreachable++;
      files.fail({ id: `mcp:${spec.name}`, kind: 'mcp_unreachable', reasons: [errMessage(e)], final: false });
      log(`tools: ${spec.name} unreachable: ${errMessage(e)}`);
      continue;
    }
    for (const t of listed) {
      const id = mcpToolId(spec.name, t.name);
      const reasons = checkToolSchema(t.inputSchema);
      if (reasons.length) {
        s.invalid++;
        files.fail({ id, kind: 'invalid_schema', reasons, final: true });
        continue;
      }
      const tool: ToolSpec = { id, name: t.name, description: t.description ?? '', inputSchema: t.inputSchema, domain: spec.name, origin: { kind: 'mcp', server: spec.name }, schemaHash: schemaHash(t.inputSchema) };
      const k = toolKey(tool);
      if (keys.has(k)) continue;
      keys.add(k);
      if (files.write(tool)) s.tools++;
    }
  }
  return s;
}
