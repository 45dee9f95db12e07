/**
 * Stage 2, the chunker.
 *   in:  a document's text, a Tokenizer, a target size in tokens (default 256)
 *   out: Chunk[] whose texts concatenate back to the document exactly
 * Sentences (ending in . ! ? or a line break, with their trailing space) are packed greedily up
 * to the target; a sentence longer than the target is split between words, and a word longer
 * than the target between tokens. Token counts are the tokenizer's count of each piece.
 */
import type { Tokenizer } from '@karakoram/model';

/** One chunk of a document: its position, text and token count. */
export interface Chunk {
  index: number;
  text: string;
  tokens: number;
}

// A sentence: anything up to . ! ? (not inside "3.14" or "e.g.x") or a line break, plus trailing space.
const SENTENCE = /(?:[^.!?\n]|[.!?]+(?=[^\s.!?"'”’)\]]))*(?:[.!?]+["'”’)\]]*|\n+|$)\s*/g;

/** Splits text into sentences, each with its trailing space; they concatenate back to the text. */
export function splitSentences(text: string): string[] {
  return (text.match(SENTENCE) ?? []).filter((s) => s.length > 0);
}

/** Splits `text` into chunks of at most `maxTokens` tokens (sentences packed greedily) whose texts concatenate back to `text` exactly. */
export function chunkText(text: string, tokenizer: Tokenizer, maxTokens = 256): Chunk[] {
  const count = (s: string): number => tokenizer.encode(s).length;
  // Pieces no longer than maxTokens, in order.
  const pieces: { text: string; tokens: number }[] = [];
  for (const s of splitSentences(text)) {
    const n = count(s);
    if (n <= maxTokens) {
      pieces.push({ text: s, tokens: n });
      continue;
    }
    for (const w of s.match(/\S+\s*|\s+/g) ?? []) {
      const wn = count(w);
      if (wn <= maxTokens) {
        pieces.push({ text: w, tokens: wn });
        continue;
      }
      // A giant word: split by code points, about maxTokens tokens at a time.
      const cps = Array.from(w);
      let cur = '';
      for (const c of cps) {
        if (cur && count(cur + c) > maxTokens) {
          pieces.push({ text: cur, tokens: count(cur) });
          cur = '';
        }
        cur += c;
      }
      if (cur) pieces.push({ text: cur, tokens: count(cur) });
    }
  }
  const chunks: Chunk[] = [];
  let cur = '';
  let curTokens = 0;
  for (const p of pieces) {
    if (cur && curTokens + p.tokens > maxTokens) {
      chunks.push({ index: chunks.length, text: cur, tokens: curTokens });
      cur = '';
      curTokens = 0;
    }
    cur += p.text;
    curTokens += p.tokens;
  }
  if (cur) chunks.push({ index: chunks.length, text: cur, tokens: curTokens });
  return chunks;
}
