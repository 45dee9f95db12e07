/**
 * Stage 4, chunk-wise autoregressive rewriting.
 *   in:  the document's chunks, a template, a provider, sampling settings
 *   out: the stitched rewrite, each chunk's rewrite, token usage, and (when translating) the
 *        English source the rewrite should be checked against
 * Chunk k is rewritten with the end of the rewrite of chunks 0..k-1 as context (at most
 * `contextTokens` tokens), so the pieces read as one text; the pieces are then stitched, with a
 * blank line where the source chunk ended a paragraph and a space otherwise. With `translate`,
 * each chunk is first translated to English and the translation is what gets rewritten.
 */
import type { Tokenizer } from '@karakoram/model';
import type { ChatProvider, ChatRequest } from '@karakoram/llm';
import type { Chunk } from './chunker.js';
import { rewriteMessages, translateMessages, type RephraseTemplate } from './templates.js';

/** Sampling settings of a rewrite call. */
export interface Sampling {
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
}

/** Prompt and completion tokens used. */
export interface TokenUsage {
  prompt: number;
  completion: number;
}

/** The stitched rewrite of a document, its pieces, the source it was rewritten from, and the tokens used. */
export interface RewriteResult {
  text: string;
  pieces: string[];
  /** The source as rewritten from: the original, or its English translation. */
  source: string;
  usage: TokenUsage;
}

const stitch = (pieces: readonly string[], chunks: readonly Chunk[]): string =>
  pieces.reduce((acc, p, i) => (i === 0 ? p : acc + (/\n\s*$/.test(chunks[i - 1]!.text) ? '\n\n' : ' ') + p), '');

/** The last `n` tokens of `text`. */
export function tail(text: string, tokenizer: Tokenizer, n: number): string {
  if (n <= 0) return '';
  const ids = tokenizer.encode(text);
  return ids.length <= n ? text : tokenizer.decode(ids.slice(ids.length - n)).replace(/^\uFFFD+/, '');
}

/** Rewrites the chunks in order, each with the end of the rewrite so far as context (translating each to English first with `translate`), and stitches the pieces. */
export async function rewriteChunks(
  provider: ChatProvider,
  template: RephraseTemplate,
  chunks: readonly Chunk[],
  opts: { sampling: Sampling; contextTokens: number; tokenizer: Tokenizer; translate: boolean },
): Promise<RewriteResult> {
  const usage: TokenUsage = { prompt: 0, completion: 0 };
  const base: Omit<ChatRequest, 'messages'> = { temperature: opts.sampling.temperature, top_p: opts.sampling.topP, max_tokens: opts.sampling.maxTokens, seed: opts.sampling.seed };
  const call = async (req: ChatRequest): Promise<string> => {
    const r = await provider.chat(req);
    usage.prompt += r.usage?.prompt_tokens ?? 0;
    usage.completion += r.usage?.completion_tokens ?? 0;
    return (r.choices[0]?.message.content ?? '').trim();
  };
  const pieces: string[] = [];
  const sources: string[] = [];
  for (const c of chunks) {
    const src = opts.translate ? await call({ ...base, temperature: 0, messages: translateMessages(c.text) }) : c.text;
    sources.push(src);
    const previous = tail(stitch(pieces, chunks), opts.tokenizer, opts.contextTokens);
    pieces.push(await call({ ...base, messages: rewriteMessages(template, { chunk: src, previous, chunkIndex: c.index, chunkCount: chunks.length }) }));
  }
  return { text: stitch(pieces, chunks), pieces, source: opts.translate ? stitch(sources, chunks) : chunks.map((c) => c.text).join(''), usage };
}
