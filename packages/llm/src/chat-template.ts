/**
 * The chat template the in-process provider and `karakoram serve` use, and the tool-call
 * convention a model follows to call tools.
 *
 * Template (ChatML, the `<|im_start|>` / `<|im_end|>` specials of the byte tokenizer):
 *
 *     <|im_start|>system\n{system text}{tools block}<|im_end|>\n
 *     <|im_start|>user\n{text}<|im_end|>\n
 *     <|im_start|>assistant\n{text}{<tool_call>…</tool_call> per call}<|im_end|>\n
 *     <|im_start|>tool\n{result}<|im_end|>\n
 *     <|im_start|>assistant\n            ← generation starts here, stops at <|im_end|> or EOS
 *
 * When the request has tools, a system message lists them as JSON (one per line) and says how to
 * call one. Tool calls: the model writes, anywhere in its reply, either
 *
 *     <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>
 *
 * (one tag per call; a closing tag cut off by the end of the reply is tolerated), or one JSON block
 *
 *     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
 *
 * whose entries may also be in OpenAI form ({"type": "function", "function": {name, arguments}}).
 * Parsed calls become OpenAI `tool_calls` (arguments as a JSON string) with finish_reason
 * "tool_calls"; the text outside them stays the message content. A tag or block whose JSON does
 * not parse is left as plain content.
 */
import type { ChatMessage, ToolDefinition } from './types.js';

/** Turns chat messages (and tools) into a model's prompt text. */
export interface ChatTemplate {
  /** The prompt text for `messages`, ending where the assistant's reply begins. */
  render(messages: readonly ChatMessage[], tools?: readonly ToolDefinition[]): string;
  /** Strings that end the reply (removed from it). */
  readonly stop: readonly string[];
}

const toolsBlock = (tools: readonly ToolDefinition[]): string =>
  '\n\nYou can call these tools:\n' +
  tools.map((t) => JSON.stringify({ name: t.function.name, description: t.function.description ?? '', parameters: t.function.parameters ?? {} })).join('\n') +
  '\nTo call a tool, reply with <tool_call>{"name": NAME, "arguments": {...}}</tool_call> (one tag per call).';

/** The ChatML template (<|im_start|>role … <|im_end|>), with tools described in the system message and called with <tool_call> tags. */
export const chatMLTemplate: ChatTemplate = {
  stop: ['<|im_end|>'],
  render(messages, tools) {
    const parts: string[] = [];
    const msgs = [...messages];
    if (tools?.length) {
      const first = msgs[0];
      if (first?.role === 'system') msgs[0] = { ...first, content: (first.content ?? '') + toolsBlock(tools) };
      else msgs.unshift({ role: 'system', content: toolsBlock(tools).trimStart() });
    }
    for (const m of msgs) {
      let text = m.content ?? '';
      if (m.role === 'assistant' && m.tool_calls?.length) {
        text += m.tool_calls.map((c) => `<tool_call>${JSON.stringify({ name: c.function.name, arguments: safeParse(c.function.arguments) })}</tool_call>`).join('');
      }
      parts.push(`<|im_start|>${m.role}\n${text}<|im_end|>\n`);
    }
    parts.push('<|im_start|>assistant\n');
    return parts.join('');
  },
};

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** A tool call parsed out of a model's reply text. */
export interface ParsedToolCall {
  name: string;
  /** A JSON string. */
  arguments: string;
}

/** Normalises one call object ({name, arguments} or {type, function: {name, arguments}}). */
function toCall(v: unknown): ParsedToolCall | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as { name?: unknown; arguments?: unknown; function?: { name?: unknown; arguments?: unknown } };
  const f = o.function && typeof o.function === 'object' ? o.function : o;
  if (typeof f.name !== 'string' || !f.name) return undefined;
  const args = f.arguments === undefined ? {} : f.arguments;
  return { name: f.name, arguments: typeof args === 'string' ? args : JSON.stringify(args) };
}

/**
 * End index (exclusive) of the balanced JSON value starting at `start` (a '{' or '['), or -1;
 * brackets inside strings do not count. For pulling JSON out of model text.
 */
export function jsonEnd(text: string, start: number): number {
  let depth = 0;
  let inStr = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '{' || c === '[') depth++;
    else if ((c === '}' || c === ']') && --depth === 0) return i + 1;
  }
  return -1;
}

/** Splits a reply into its content and its tool calls (see the convention above). */
export function parseToolCalls(text: string): { content: string; calls: ParsedToolCall[] } {
  const calls: ParsedToolCall[] = [];
  let content = text;
  // <tool_call>{...}</tool_call> tags.
  content = content.replace(/<tool_call>\s*([\s\S]*?)\s*(?:<\/tool_call>|$)/g, (whole, body: string) => {
    try {
      const c = toCall(JSON.parse(body));
      if (c) {
        calls.push(c);
        return '';
      }
    } catch {
      /* not JSON: keep as content */
    }
    return whole;
  });
  // One {"tool_calls": [...]} block.
  const m = /\{\s*"tool_calls"\s*:/.exec(content);
  if (m) {
    const end = jsonEnd(content, m.index);
    if (end > 0) {
      try {
        const block = JSON.parse(content.slice(m.index, end)) as { tool_calls?: unknown };
        const list = Array.isArray(block.tool_calls) ? block.tool_calls.map(toCall) : [];
        if (list.length && list.every((c) => c)) {
          calls.push(...(list as ParsedToolCall[]));
          content = content.slice(0, m.index) + content.slice(end);
        }
      } catch {
        /* keep as content */
      }
    }
  }
  return { content: calls.length ? content.trim() : content, calls };
}
