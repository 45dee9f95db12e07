import { describe, expect, it } from 'vitest';
import { ConfigError, KarakoramError, parseConfig, z } from '../src/index.js';

const Schema = z
  .object({
    model: z.object({
      hidden: z.number().int().positive(),
      act: z.enum(['silu', 'gelu']),
      experts: z.union([z.literal('none'), z.object({ count: z.number().int(), topK: z.number().int() }).strict()]),
    }),
    lr: z.number().default(1e-3),
    tags: z.array(z.string()).default([]),
  })
  .strict();

const fails = (v: unknown, where?: string): ConfigError => {
  try {
    parseConfig(Schema, v, where);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).toBeInstanceOf(KarakoramError);
    expect((e as ConfigError).code).toBe('config');
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

const good = { model: { hidden: 8, act: 'silu', experts: 'none' } };

describe('parseConfig', () => {
  it('returns the parsed value with defaults', () => {
    expect(parseConfig(Schema, good)).toEqual({ ...good, lr: 1e-3, tags: [] });
  });

  it('lists every bad field in one message, each with its path and what was expected', () => {
    const e = fails({ model: { hidden: -3, act: 'relu', experts: { count: 8, topK: 'two' } }, tags: ['a', 2], extra: true }, 'model.json');
    expect(e.issues).toEqual([
      { path: 'model.hidden', message: 'Number must be greater than 0' },
      { path: 'model.act', message: 'expected one of "silu", "gelu", got "relu"' },
      { path: 'model.experts.topK', message: 'expected number, got string' },
      { path: 'tags.1', message: 'expected string, got number' },
      { path: '(root)', message: 'unknown key(s) "extra"' },
    ]);
    expect(e.message).toBe(
      'model.json: invalid configuration:\n' +
        '  model.hidden: Number must be greater than 0\n' +
        '  model.act: expected one of "silu", "gelu", got "relu"\n' +
        '  model.experts.topK: expected number, got string\n' +
        '  tags.1: expected string, got number\n' +
        '  (root): unknown key(s) "extra"',
    );
  });

  it('names a missing required field', () => {
    const e = fails({ model: { act: 'gelu', experts: 'none' } });
    expect(e.issues).toEqual([{ path: 'model.hidden', message: 'required number is missing' }]);
    expect(e.message.startsWith('config: ')).toBe(true);
  });

  it('a union that matches no branch says what the branches accept', () => {
    const e = fails({ model: { hidden: 4, act: 'silu', experts: 3 } });
    expect(e.issues).toEqual([{ path: 'model.experts', message: 'expected "none" or object, got number' }]);
    const s = fails({ model: { hidden: 4, act: 'silu', experts: { count: 2, topK: 1, bias: 0 } } });
    expect(s.issues).toEqual([{ path: 'model.experts', message: 'unknown key(s) "bias"' }]);
  });

  it('a root of the wrong type', () => {
    expect(fails(null).issues).toEqual([{ path: '(root)', message: 'expected object, got null' }]);
  });
});
