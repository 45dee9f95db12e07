/**
 * A tokenizer that needs no files: ids 0..255 are the UTF-8 bytes, then a few specials. Any text
 * round-trips exactly; used by tests, demos and the small preset.
 */
import type { Tokenizer } from './types.js';

/** ByteTokenizer's special tokens, in id order from 256 (bos, eos, pad, then the chat markers). */
export const BYTE_SPECIALS = ['<|bos|>', '<|eos|>', '<|pad|>', '<|im_start|>', '<|im_end|>'] as const;

export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = 256 + BYTE_SPECIALS.length;
  readonly bosId = 256;
  readonly eosId = 257;
  readonly padId = 258;
  readonly specialTokens: ReadonlyMap<string, number> = new Map(BYTE_SPECIALS.map((s, i) => [s, 256 + i]));
  private readonly specialRe = new RegExp(BYTE_SPECIALS.map((s) => s.replace(/[|]/g, '\\|')).join('|'), 'g');
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();

  encode(text: string): number[] {
    const out: number[] = [];
    let at = 0;
    // Appended byte by byte: spreading a long text's bytes into push() overflows the stack.
    const append = (bytes: Uint8Array): void => {
      for (const b of bytes) out.push(b);
    };
    for (const m of text.matchAll(this.specialRe)) {
      append(this.enc.encode(text.slice(at, m.index)));
      out.push(this.specialTokens.get(m[0])!);
      at = m.index + m[0].length;
    }
    append(this.enc.encode(text.slice(at)));
    return out;
  }

  decode(ids: readonly number[]): string {
    let text = '';
    let bytes: number[] = [];
    const flush = (): void => {
      text += this.dec.decode(new Uint8Array(bytes));
      bytes = [];
    };
    for (const id of ids) {
      if (id >= 0 && id < 256) bytes.push(id);
      else {
        flush();
        text += BYTE_SPECIALS[id - 256] ?? '';
      }
    }
    flush();
    return text;
  }
}
