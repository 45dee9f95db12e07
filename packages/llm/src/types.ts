/**
 * The OpenAI chat-completions format, the one language every provider here speaks: requests with
 * system/user/assistant/tool messages and function tools, responses with tool_calls and usage,
 * and the streamed chunk shape.
 */

export type Role = 'system' | 'user' | 'assistant' | 'tool';

/** One tool call of an assistant message. */
export interface ToolCall {
  id: string;
  type: 'function';
  /** `arguments` is a JSON string, as in the OpenAI API. */
  function: { name: string; arguments: string };
}

/** One chat message. */
export interface ChatMessage {
  role: Role;
  /** null on an assistant message that only calls tools. */
  content: string | null;
  name?: string;
  tool_calls?: ToolCall[];
  /** On a tool message: the call it answers. */
  tool_call_id?: string;
}

/** A function tool the model may call; `parameters` is its JSON Schema. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** A chat completion request. */
export interface ChatRequest {
  messages: ChatMessage[];
  /** Defaults to the provider's model. */
  model?: string;
  tools?: ToolDefinition[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  seed?: number;
  stop?: string | string[];
}

/** Token counts of a completion. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Why the completion ended. */
export type FinishReason = 'stop' | 'length' | 'tool_calls';

/** One choice of a chat completion. */
export interface ChatChoice {
  index: number;
  message: ChatMessage & { role: 'assistant' };
  finish_reason: FinishReason;
}

/** A chat completion response. */
export interface ChatResponse {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: ChatChoice[];
  usage: Usage;
}

/** What one stream chunk adds to the message. */
export interface ChatChunkDelta {
  role?: 'assistant';
  content?: string;
  tool_calls?: (Partial<ToolCall> & { index: number; function?: { name?: string; arguments?: string } })[];
}

/** One chunk of a streamed chat completion. */
export interface ChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: number; delta: ChatChunkDelta; finish_reason: FinishReason | null }[];
  /** Present on the last chunk (OpenAI: with stream_options.include_usage). */
  usage?: Usage | null;
}

/** Anything that answers chat requests: an HTTP endpoint or a model in this process. */
export interface ChatProvider {
  /** The default model name requests go to. */
  readonly model: string;
  /** Sends one chat completion request. */
  chat(req: ChatRequest): Promise<ChatResponse>;
  /** Sends one chat completion request and streams the reply as chunks. */
  chatStream(req: ChatRequest): AsyncIterable<ChatChunk>;
}

/** Concatenates a stream back into one response (content, tool calls, finish reason, usage). */
export async function collectStream(stream: AsyncIterable<ChatChunk>): Promise<ChatResponse> {
  let id = '';
  let model = '';
  let created = 0;
  let content = '';
  let finish: FinishReason = 'stop';
  let usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  const calls: ToolCall[] = [];
  for await (const c of stream) {
    id ||= c.id;
    model ||= c.model;
    created ||= c.created;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      if (ch.delta.content) content += ch.delta.content;
      for (const t of ch.delta.tool_calls ?? []) {
        const cur = (calls[t.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
        if (t.id) cur.id = t.id;
        if (t.function?.name) cur.function.name += t.function.name;
        if (t.function?.arguments) cur.function.arguments += t.function.arguments;
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  const message: ChatMessage & { role: 'assistant' } = { role: 'assistant', content: content || (calls.length ? null : '') };
  if (calls.length) message.tool_calls = calls;
  return { id, object: 'chat.completion', created, model, choices: [{ index: 0, message, finish_reason: finish }], usage };
}
