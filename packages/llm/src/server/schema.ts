import { z } from '@karakoram/core';
import type { ChatMessage, ChatRequest } from '../types.js';
import { HttpError } from './errors.js';

const contentPart = z.object({ type: z.string(), text: z.string().optional() }).passthrough();
const toolCall = z.object({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string() }) }).passthrough();

const message = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'tool', 'developer']),
    content: z.union([z.string(), z.null(), z.array(contentPart)]).optional(),
    name: z.string().optional(),
    tool_calls: z.array(toolCall).optional(),
    tool_call_id: z.string().optional(),
  })
  .passthrough();

const tool = z
  .object({
    type: z.literal('function'),
    function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.unknown()).optional() }).passthrough(),
  })
  .passthrough();

/** The fields of POST /v1/chat/completions this server reads; others are accepted and ignored. */
export const ChatCompletionBody = z
  .object({
    model: z.string().optional(),
    messages: z.array(message).min(1),
    tools: z.array(tool).optional(),
    tool_choice: z.unknown().optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    max_tokens: z.number().int().positive().optional(),
    max_completion_tokens: z.number().int().positive().optional(),
    seed: z.number().int().nonnegative().optional(),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional(),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
    n: z.literal(1).optional(),
  })
  .passthrough();

/** Validates a request body into a ChatRequest, or throws a 400 naming the bad parameter. */
export function parseChatBody(body: unknown): ChatRequest & { stream: boolean } {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'the request body must be a JSON object', 'invalid_request_error', null, 'invalid_body');
  }
  const r = ChatCompletionBody.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const param = i.path.length ? i.path.join('.') : null;
    const missing = i.code === 'invalid_type' && i.received === 'undefined';
    const msg = missing ? `'${param}' is a required property` : `invalid value for '${param ?? '(body)'}': ${i.message}`;
    throw new HttpError(400, msg, 'invalid_request_error', param, missing ? 'missing_required_parameter' : 'invalid_value');
  }
  const b = r.data;
  const messages: ChatMessage[] = b.messages.map((m) => {
    const content = Array.isArray(m.content) ? m.content.map((p) => p.text ?? '').join('') : m.content ?? null;
    const out: ChatMessage = { role: m.role === 'developer' ? 'system' : m.role, content };
    if (m.name) out.name = m.name;
    if (m.tool_calls) out.tool_calls = m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } }));
    if (m.tool_call_id) out.tool_call_id = m.tool_call_id;
    return out;
  });
  const req: ChatRequest & { stream: boolean } = { messages, stream: b.stream ?? false };
  if (b.model !== undefined) req.model = b.model;
  if (b.tools?.length) req.tools = b.tools.map((t) => ({ type: 'function', function: { name: t.function.name, description: t.function.description, parameters: t.function.parameters } }));
  if (b.temperature !== undefined) req.temperature = b.temperature;
  if (b.top_p !== undefined) req.top_p = b.top_p;
  const maxTokens = b.max_completion_tokens ?? b.max_tokens;
  if (maxTokens !== undefined) req.max_tokens = maxTokens;
  if (b.seed !== undefined) req.seed = b.seed;
  if (b.stop != null) req.stop = b.stop;
  return req;
}
