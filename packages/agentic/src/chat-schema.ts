/**
 * zod schemas of the OpenAI chat format with tools, for validating exported SFT lines:
 * {messages: [system?, user, assistant (content and/or tool_calls [{id, type: "function",
 * function: {name, arguments: JSON string}}]), tool (tool_call_id answering an earlier call)…],
 * tools?: [{type: "function", function: {name, description?, parameters?}}]}.
 */
import { z } from '@karakoram/core';

const jsonObjectString = z.string().refine((s) => {
  try {
    const v = JSON.parse(s) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}, 'arguments must be a JSON string of an object');

/** Zod schema of one assistant tool call; `arguments` must be a JSON string of an object. */
export const ToolCallSchema = z.object({ id: z.string().min(1), type: z.literal('function'), function: z.object({ name: z.string().min(1), arguments: jsonObjectString }).strict() }).strict();

/** Zod schema of one OpenAI-format chat message (system, user, assistant with optional tool calls, or tool result). */
export const ChatMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: z.string() }).strict(),
  z.object({ role: z.literal('user'), content: z.string() }).strict(),
  z.object({ role: z.literal('assistant'), content: z.string().nullable(), tool_calls: z.array(ToolCallSchema).min(1).optional() }).strict(),
  z.object({ role: z.literal('tool'), tool_call_id: z.string().min(1), content: z.string() }).strict(),
]);

/** Zod schema of an OpenAI function tool definition. */
export const ToolDefinitionSchema = z.object({
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.unknown()).optional() }).strict(),
}).strict();

/** Zod schema of a chat example: at least two messages, optional tools; rejects an assistant turn with neither content nor tool calls and a system message that is not first. */
export const ChatExampleSchema = z
  .object({ messages: z.array(ChatMessageSchema).min(2), tools: z.array(ToolDefinitionSchema).optional() })
  .passthrough()
  .superRefine((ex, ctx) => {
    const open = new Set<string>();
    ex.messages.forEach((m, i) => {
      if (m.role === 'assistant' && m.content === null && !m.tool_calls?.length) ctx.addIssue({ code: 'custom', path: ['messages', i], message: 'an assistant message needs content or tool_calls' });
      if (m.role === 'system' && i !== 0) ctx.addIssue({ code: 'custom', path: ['messages', i, 'role'], message: 'a system message must come first' });
      if (m.role === 'assistant') for (const c of m.tool_calls ?? []) open.add(c.id);
      if (m.role === 'tool' && !open.has(m.tool_call_id)) ctx.addIssue({ code: 'custom', path: ['messages', i, 'tool_call_id'], message: `answers no earlier tool call (${m.tool_call_id})` });
    });
    const names = new Set(ex.tools?.map((t) => t.function.name));
    ex.messages.forEach((m, i) => {
      if (m.role === 'assistant' && ex.tools) for (const c of m.tool_calls ?? []) if (!names.has(c.function.name)) ctx.addIssue({ code: 'custom', path: ['messages', i, 'tool_calls'], message: `calls ${c.function.name}, which is not in tools` });
    });
  });
/** One validated chat training example: OpenAI-format messages plus optional tool definitions. */
export type ChatExample = z.output<typeof ChatExampleSchema>;
