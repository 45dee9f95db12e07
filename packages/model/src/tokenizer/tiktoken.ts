/**
 * tiktoken-format BPE (Kimi K2 ships `tiktoken.model`: one "base64(token bytes) rank" per line),
 * on js-tiktoken's generic Tiktoken class. Kimi's split pattern is given here in a form JS regexes
 * accept (see KIMI_PATTERN).
 */
import { KarakoramError } from '@karakoram/core';
import { Tiktoken } from 'js-tiktoken/lite';
import { maxOf, tokenText, type Tokenizer, type TokenizerConfigJson } from './types.js';

/**
 * The pre-tokenizer pattern of Kimi K2's tokenization_kimi.py, rewritten for JS regexes with the
 * `u` flag: Rust-style class intersection `[X&&[^\p{Han}]]` becomes `(?:(?!\p{Script=Han})[X])`,
 * and the inline case-insensitive group `(?i:'s|'t|...)` is spelled out (with U+017F, which
 * case-folds to s). Same matches; JS's `\s` also counts U+FEFF as space, the one known difference.
 */
const CONTRACTION = "(?:'[sS\u017f]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const UPPER = '(?:(?!\\p{Script=Han})[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}])';
const LOWER = '(?:(?!\\p{Script=Han})[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}])';
/** Kimi K2's pre-tokenizer split pattern as JS regex source (use with the `u` flag). */
export const KIMI_PATTERN = [
  '[\\p{Script=Han}]+',
  `[^\\r\\n\\p{L}\\p{N}]?${UPPER}*${LOWER}+${CONTRACTION}?`,
  `[^\\r\\n\\p{L}\\p{N}]?${UPPER}+${LOWER}*${CONTRACTION}?`,
  '\\p{N}{1,3}',
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*',
  '\\s*[\\r\\n]+',
  '\\s+(?!\\S)',
  '\\s+',
].join('|');

/** Kimi reserves 256 ids after the BPE ranks for special tokens. */
export const KIMI_RESERVED_SPECIAL = 256;

/** Parses "base64 rank" lines; refuses malformed lines and repeated ranks, naming the line. */
export function parseTiktokenRanks(text: string, file = 'tiktoken.model'): Map<string, number> {
  const ranks = new Map<string, number>();
  const seen = new Set<number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const m = /^([A-Za-z0-9+/]+={0,2})\s+(\d+)$/.exec(line);
    if (!m) throw new KarakoramError('tokenizer', `line ${i + 1} is not "base64token rank": ${JSON.stringify(line.slice(0, 60))}`, file);
    const rank = Number(m[2]);
    if (seen.has(rank) || ranks.has(m[1]!)) throw new KarakoramError('tokenizer', `line ${i + 1}: repeated token or rank ${rank}`, file);
    seen.add(rank);
    ranks.set(m[1]!, rank);
  }
  if (ranks.size === 0) throw new KarakoramError('tokenizer', 'no ranks found', file);
  return ranks;
}

/** What a TiktokenTokenizer is built from: the ranks file, the split pattern and the special tokens. */
export interface TiktokenOptions {
  /** The ranks file's text. */
  ranks: string;
  /** Split pattern (JS regex source, used with the `u` flag). */
  pattern: string;
  specialTokens?: Record<string, number>;
  bos?: string;
  eos?: string;
  file?: string;
}

export class TiktokenTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly enc: Tiktoken;

  constructor(opts: TiktokenOptions) {
    const file = opts.file ?? 'tiktoken.model';
    const ranks = parseTiktokenRanks(opts.ranks, file);
    const special = opts.specialTokens ?? {};
    this.specialTokens = new Map(Object.entries(special));
    // js-tiktoken takes its own compact rank format: "! <rank> <base64>..." lines.
    const bpe = [...ranks].map(([b64, r]) => `! ${r} ${b64}`).join('\n');
    this.enc = new Tiktoken({ pat_str: opts.pattern, special_tokens: special, bpe_ranks: bpe });
    this.vocabSize = maxOf([...ranks.values(), ...Object.values(special)]) + 1;
    const idOf = (s: string | undefined, what: string): number | undefined => {
      if (s === undefined) return undefined;
      const id = special[s];
      if (id === undefined) throw new KarakoramError('tokenizer', `${what} token ${JSON.stringify(s)} is not a special token`, file);
      return id;
    };
    this.bosId = idOf(opts.bos, 'BOS');
    this.eosId = idOf(opts.eos, 'EOS');
  }

  encode(text: string): number[] {
    return this.enc.encode(text, 'all');
  }
  decode(ids: readonly number[]): string {
    return this.enc.decode([...ids]);
  }
}

/**
 * Kimi K2's tokenizer: tiktoken.model with KIMI_PATTERN and 256 special ids after the ranks, named
 * by tokenizer_config.json's added_tokens_decoder (the rest `<|reserved_token_{id}|>`, as
 * tokenization_kimi.py does); BOS/EOS from its bos_token/eos_token.
 */
export function kimiTokenizer(ranks: string, config: TokenizerConfigJson = {}, file = 'tiktoken.model'): TiktokenTokenizer {
  const base = parseTiktokenRanks(ranks, file).size;
  const special: Record<string, number> = {};
  for (let id = base; id < base + KIMI_RESERVED_SPECIAL; id++) {
    special[config.added_tokens_decoder?.[String(id)]?.content ?? `<|reserved_token_${id}|>`] = id;
  }
  return new TiktokenTokenizer({ ranks, pattern: KIMI_PATTERN, specialTokens: special, bos: tokenText(config.bos_token), eos: tokenText(config.eos_token), file });
}
