/** What the model, generation and data pipelines need from a tokenizer, whatever its format. */
export interface Tokenizer {
  /** Text to ids. Special-token strings in the text map to their ids; nothing is added (no BOS). */
  encode(text: string): number[];
  /** Ids to text (special tokens included as their strings). */
  decode(ids: readonly number[]): string;
  /** One more than the largest id. */
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  /** Special-token strings and their ids. */
  readonly specialTokens: ReadonlyMap<string, number>;
}

/** tokenizer_config.json fields we read: the special tokens and which is BOS/EOS. */
export interface TokenizerConfigJson {
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  added_tokens_decoder?: Record<string, { content: string; special?: boolean }>;
  [key: string]: unknown;
}

/** The text of a tokenizer_config.json token entry, which may be a string or an `{ content }` object. */
export const tokenText = (t: TokenizerConfigJson['bos_token']): string | undefined => (t == null ? undefined : typeof t === 'string' ? t : t.content);

/** Largest value, -1 for none (a loop: spreading 160k ids into Math.max overflows some engines' argument limit). */
export function maxOf(values: Iterable<number>): number {
  let m = -1;
  for (const v of values) if (v > m) m = v;
  return m;
}
