/** Hugging Face tokenizer.json files, through @huggingface/tokenizers (pure JS, runs in browsers). */
import { KarakoramError } from '@karakoram/core';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { maxOf, tokenText, type Tokenizer, type TokenizerConfigJson } from './types.js';

export class HfJsonTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly tok: HfTokenizer;

  /** `json` is tokenizer.json (text or parsed); `config` the optional tokenizer_config.json. */
  constructor(json: string | object, config: TokenizerConfigJson = {}, file = 'tokenizer.json') {
    let parsed: unknown = json;
    if (typeof json === 'string') {
      try {
        parsed = JSON.parse(json);
      } catch (e) {
        throw new KarakoramError('tokenizer', `not JSON (${(e as Error).message})`, file);
      }
    }
    const model = (parsed as { model?: { type?: string } } | null)?.model;
    if (!model || typeof model !== 'object') throw new KarakoramError('tokenizer', 'no "model" object: not a tokenizer.json', file);
    try {
      this.tok = new HfTokenizer(parsed as object, config);
    } catch (e) {
      throw new KarakoramError('tokenizer', `cannot build a ${model.type ?? 'tokenizer'} from it: ${(e as Error).message}`, file);
    }
    const vocab = this.tok.get_vocab(true);
    this.vocabSize = maxOf(vocab.values()) + 1;
    this.specialTokens = new Map([...this.tok.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id, t]) => [t.content, id]));
    const idOf = (s: string | undefined): number | undefined => (s === undefined ? undefined : this.tok.token_to_id(s));
    this.bosId = idOf(tokenText(config.bos_token));
    this.eosId = idOf(tokenText(config.eos_token));
  }

  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }
  decode(ids: readonly number[]): string {
    return this.tok.decode([...ids], { skip_special_tokens: false });
  }
}
