import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteTokenizer, HfJsonTokenizer, KIMI_PATTERN, TiktokenTokenizer, kimiTokenizer, parseTiktokenRanks } from '../src/index.js';
import { loadTokenizerDir } from '../src/node.js';

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer();
  it('round-trips any unicode text exactly', () => {
    const text = 'héllo, 世界! 🎉 \u0000\ttabs\nZa\u0308lgo \u{10ffff}';
    const ids = tok.encode(text);
    expect(ids.every((i) => i >= 0 && i < 256)).toBe(true);
    expect(ids.slice(0, 3)).toEqual([0x68, 0xc3, 0xa9]); // h, é as UTF-8
    expect(tok.decode(ids)).toBe(text);
  });
  it('maps its special tokens both ways', () => {
    expect(tok.vocabSize).toBe(261);
    expect(tok.encode('<|bos|>hi<|eos|>')).toEqual([256, 0x68, 0x69, 257]);
    expect(tok.decode([256, 0x68, 0x69, 257])).toBe('<|bos|>hi<|eos|>');
    expect([tok.bosId, tok.eosId]).toEqual([256, 257]);
  });
});

/** A tiny tiktoken.model: the 256 single bytes, then 3 merges ("ab", "abc", " a"). */
const b64 = (s: string | number[]): string => Buffer.from(typeof s === 'string' ? Buffer.from(s) : Uint8Array.from(s)).toString('base64');
const ranksFile = [...Array.from({ length: 256 }, (_, i) => `${b64([i])} ${i}`), `${b64('ab')} 256`, `${b64('abc')} 257`, `${b64(' a')} 258`].join('\n') + '\n';

describe('tiktoken format (Kimi K2)', () => {
  it('splits text the way Kimi\'s pattern does', () => {
    const re = new RegExp(KIMI_PATTERN, 'gu');
    expect([...'Hello世界 it\'s 12345\n'.matchAll(re)].map((m) => m[0])).toEqual(['Hello', '世界', " it's", ' ', '123', '45', '\n']);
    expect([...'HTTPServer DON\'T'.matchAll(re)].map((m) => m[0])).toEqual(['HTTPServer', " DON'T"]);
  });

  it('encodes by lowest-rank merges and decodes back', () => {
    const tok = kimiTokenizer(ranksFile, {
      bos_token: '[BOS]',
      eos_token: { content: '[EOS]' },
      added_tokens_decoder: { '259': { content: '[BOS]', special: true }, '260': { content: '[EOS]', special: true } },
    });
    // "abc" is one piece -> 257; " abc": " ","a","b","c" -> "ab"(256) first, then "abc"(257) -> [32, 257].
    expect(tok.encode('abc abc')).toEqual([257, 32, 257]);
    expect(tok.encode('世')).toEqual([0xe4, 0xb8, 0x96]); // no merges: its UTF-8 bytes
    expect(tok.encode('[BOS]ab[EOS]')).toEqual([259, 256, 260]);
    expect([tok.bosId, tok.eosId, tok.vocabSize]).toEqual([259, 260, 259 + 256]);
    expect(tok.specialTokens.get('<|reserved_token_300|>')).toBe(300);
    const text = 'abc, 世界 ab\n';
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('refuses malformed rank files, naming the line', () => {
    expect(() => parseTiktokenRanks('YQ== 0\nnot a line\n', 'x.model')).toThrow(/x.model: line 2 is not "base64token rank"/);
    expect(() => parseTiktokenRanks('YQ== 0\nYg== 0\n')).toThrow(/line 2: repeated token or rank 0/);
    expect(() => new TiktokenTokenizer({ ranks: 'YQ== 0', pattern: '.', eos: '<eos>' })).toThrow(/EOS token "<eos>" is not a special token/);
  });
});

/** A tiny byte-level BPE tokenizer.json, written by hand. */
const tokenizerJson = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [{ id: 13, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false,
    vocab: { h: 0, e: 1, l: 2, o: 3, 'Ġ': 4, w: 5, r: 6, d: 7, he: 8, ll: 9, hell: 10, hello: 11, 'Ġw': 12 },
    merges: ['h e', 'l l', 'he ll', 'hell o', 'Ġ w'],
  },
};

describe('tokenizer.json', () => {
  it('encodes with the merges, maps specials, decodes back', () => {
    const tok = new HfJsonTokenizer(JSON.stringify(tokenizerJson), { eos_token: '<|endoftext|>' });
    expect(tok.encode('hello world<|endoftext|>')).toEqual([11, 12, 3, 6, 2, 7, 13]);
    expect(tok.decode([11, 12, 3, 6, 2, 7, 13])).toBe('hello world<|endoftext|>');
    expect([tok.vocabSize, tok.eosId, tok.bosId]).toEqual([14, 13, undefined]);
    expect([...tok.specialTokens]).toEqual([['<|endoftext|>', 13]]);
  });
  it('refuses what is not a tokenizer.json', () => {
    expect(() => new HfJsonTokenizer('{"a":', {}, 'x/tokenizer.json')).toThrow(/x\/tokenizer.json: not JSON/);
    expect(() => new HfJsonTokenizer({ version: '1.0' })).toThrow(/no "model" object/);
  });
});

describe('loadTokenizerDir', () => {
  it('picks tokenizer.json, else tiktoken.model, else says neither is there', async () => {
    const a = await mkdtemp(join(tmpdir(), 'kk-tok-'));
    await writeFile(join(a, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    expect((await loadTokenizerDir(a)).encode('hello')).toEqual([11]);
    const b = await mkdtemp(join(tmpdir(), 'kk-tok-'));
    await writeFile(join(b, 'tiktoken.model'), ranksFile);
    await writeFile(join(b, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|reserved_token_260|>' }));
    const k = await loadTokenizerDir(b);
    expect([k.encode('abc'), k.eosId]).toEqual([[257], 260]);
    await expect(loadTokenizerDir(await mkdtemp(join(tmpdir(), 'kk-tok-')))).rejects.toThrow(/no tokenizer.json or tiktoken.model/);
  });
});
