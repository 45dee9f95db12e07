/**
 * LLM calls whose answer must be JSON: the reply's first JSON object (bare, or in a ```json fence)
 * is parsed and checked; a reply that does not parse or check is retried (attempts, each with a
 * new seed), and after the last attempt the caller gets every attempt's reason. Provider failures
 * (after the provider's own retries: an HTTP body that is not JSON, a network error) count as a
 * failed attempt with their message.
 */
import { jsonEnd, type ChatMessage, type ChatProvider } from '@karakoram/llm';
import { errMessage, snippet } from './util.js';

/** The first balanced JSON object or array in `text`, parsed; undefined when there is none. */
export function extractJson(text: string): unknown {
  const fence = /```(?:json)?\s*([\s\S]*?)```/.exec(text);
  const candidates = fence ? [fence[1]!, text] : [text];
  for (const c of candidates) {
    for (let i = 0; i < c.length; i++) {
      const ch = c[i];
      if (ch !== '{' && ch !== '[') continue;
      const end = jsonEnd(c, i);
      if (end < 0) continue;
      try {
        return JSON.parse(c.slice(i, end));
      } catch {
        /* try the next opening bracket */
      }
    }
  }
  return undefined;
}

/** Options of a JSON-answer call: attempts, token limit and sampling. */
export interface JsonCallOptions {
  attempts: number;
  maxTokens: number;
  temperature?: number;
  seed?: number;
}

/** The checked value of a JSON-answer call, or the reasons every attempt failed; both carry attempts and tokens used. */
export type JsonResult<T> =
  | { ok: true; value: T; raw: string; attempts: number; tokens: number }
  | { ok: false; reasons: string[]; attempts: number; tokens: number; notJson: boolean };

/**
 * Asks `provider` and checks the JSON answer with `check` (a value, or a string saying why not).
 * `notJson` on failure: no attempt produced parseable JSON (as opposed to JSON that failed the check).
 */
export async function chatJson<T>(provider: ChatProvider, messages: ChatMessage[], check: (v: unknown) => T | string, o: JsonCallOptions): Promise<JsonResult<T>> {
  const reasons: string[] = [];
  let tokens = 0;
  let sawJson = false;
  for (let a = 0; a < o.attempts; a++) {
    let text: string;
    try {
      const r = await provider.chat({ messages, max_tokens: o.maxTokens, temperature: a === 0 ? (o.temperature ?? 0) : Math.max(0.7, o.temperature ?? 0), seed: (o.seed ?? 0) + a });
      tokens += r.usage?.total_tokens ?? 0;
      text = r.choices[0]?.message.content ?? '';
    } catch (e) {
      reasons.push(`attempt ${a + 1}: provider failed: ${errMessage(e)}`);
      continue;
    }
    const v = extractJson(text);
    if (v === undefined) {
      reasons.push(`attempt ${a + 1}: output not JSON: ${JSON.stringify(snippet(text, 120))}`);
      continue;
    }
    sawJson = true;
    const c = check(v);
    if (typeof c === 'string') {
      reasons.push(`attempt ${a + 1}: ${c}`);
      continue;
    }
    return { ok: true, value: c, raw: text, attempts: a + 1, tokens };
  }
  return { ok: false, reasons, attempts: o.attempts, tokens, notJson: !sawJson };
}
