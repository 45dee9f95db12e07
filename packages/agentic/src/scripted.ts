/**
 * A scripted agent: a ChatProvider whose replies come from a function of the request (no model).
 * For tests, baselines and bootstrapping: `oracleAgent` makes a task's expected calls in order
 * (with their arguments), then replies with text. It is an agent like any other, not a stand-in
 * for the pipeline's parts.
 */
import type { ChatMessage, ChatProvider, ChatRequest, ChatResponse, ChatChunk, ToolCall } from '@karakoram/llm';
import { responseToChunks } from '@karakoram/llm';
import type { ExpectedCall } from './stages/tasks.js';

/** One scripted assistant reply: text and/or tool calls (arguments as a JSON string or an object). */
export type ScriptedReply = { content?: string | null; tool_calls?: { name: string; arguments: string | Record<string, unknown> }[] };

/** A ChatProvider whose replies come from a script function (tests and offline runs). */
export class ScriptedProvider implements ChatProvider {
  calls = 0;
  constructor(private readonly script: (req: ChatRequest, n: number) => ScriptedReply, readonly model = 'scripted') {}

  /** Answers with the script's next reply as a chat completion. */
  async chat(req: ChatRequest): Promise<ChatResponse> {
    const r = this.script(req, this.calls++);
    const message: ChatMessage & { role: 'assistant' } = { role: 'assistant', content: r.content ?? (r.tool_calls?.length ? null : '') };
    if (r.tool_calls?.length) {
      message.tool_calls = r.tool_calls.map((c, i): ToolCall => ({ id: `call_s${this.calls}_${i}`, type: 'function', function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments) } }));
    }
    return { id: `scripted-${this.calls}`, object: 'chat.completion', created: 0, model: this.model, choices: [{ index: 0, message, finish_reason: message.tool_calls ? 'tool_calls' : 'stop' }], usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
  }

  /** Streams the script's next reply. */
  async *chatStream(req: ChatRequest): AsyncGenerator<ChatChunk> {
    yield* responseToChunks(await this.chat(req));
  }
}

/**
 * Makes `calls(req)` in order: each request, the next call not yet made in this conversation
 * (counted from its assistant tool calls), then "Done." once all are made.
 */
export function oracleAgent(calls: (req: ChatRequest) => readonly ExpectedCall[], opts: { wrongArgsAt?: number } = {}): ScriptedProvider {
  return new ScriptedProvider((req) => {
    const want = calls(req);
    const made = req.messages.filter((m) => m.role === 'assistant').flatMap((m) => m.tool_calls ?? []).length;
    const next = want[made];
    if (!next) return { content: 'Done: everything you asked for is complete.' };
    const args = opts.wrongArgsAt === made ? { unexpected: 1 } : next.arguments;
    return { tool_calls: [{ name: next.name, arguments: args }] };
  });
}
