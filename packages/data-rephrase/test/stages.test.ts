import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@karakoram/core';
import { ByteTokenizer } from '@karakoram/model';
import {
  JsonlAppender, KNOWLEDGE_TEMPLATES, MATH_TEMPLATES, cheapChecks, chunkText, jobIdFor, looksNonEnglish, parseRephraseConfig, parseVerdict, readJsonl,
  redisConnection, rewriteMessages, selectTemplates, splitSentences, templateFor, type MalformedLine,
} from '../src/index.js';
import { tempDir } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir('stages');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('jsonl reader', () => {
  const lines = [
    '{"id": "a", "text": "Alpha."}',
    '{"id": "b", "text": "Beta."',
    '',
    '[1, 2]',
    '{"id": 7, "text": "Seven."}',
    '{"text": "no id"}',
    '{"id": "c", "text": 5}',
    '{"id": "a", "text": "Again."}',
    '{"id": "d", "text": "   "}',
    '{"id": "e", "text": "Epsilon."}',
  ];
  it('reports malformed lines with their numbers and skips them', async () => {
    const path = join(dir, 'in.jsonl');
    await writeFile(path, lines.join('\n'));
    const bad: MalformedLine[] = [];
    const docs = [];
    for await (const d of readJsonl(path, { onMalformed: (m) => bad.push(m) })) docs.push(d);
    expect(docs.map((d) => [d.id, d.line])).toEqual([['a', 1], ['7', 5], ['e', 10]]);
    expect(bad.map((b) => b.line)).toEqual([2, 4, 6, 7, 8, 9]);
    expect(bad[0]!.error).toMatch(/^invalid JSON/);
    expect(bad[1]!.error).toMatch(/expected a JSON object, got an array/);
    expect(bad[2]!.error).toBe('missing "id"');
    expect(bad[3]!.error).toMatch(/"text" must be a string/);
    expect(bad[4]!.error).toBe('duplicate id "a"');
    expect(bad[5]!.error).toBe('"text" is empty');
    expect(bad[0]!.raw).toBe(lines[1]);
  });
  it('fails at the first bad line when strict', async () => {
    const path = join(dir, 'in.jsonl');
    const it = async () => {
      for await (const _ of readJsonl(path, { strict: true })) void _;
    };
    await expect(it()).rejects.toThrow(/in\.jsonl: line 2: invalid JSON/);
  });
});

describe('chunker', () => {
  const tok = new ByteTokenizer();
  it('splits sentences, not numbers or abbreviations', () => {
    expect(splitSentences('Pi is 3.14 today. Really? Yes!\nNext line')).toEqual(['Pi is 3.14 today. ', 'Really? ', 'Yes!\n', 'Next line']);
  });
  it('packs sentences up to the token budget and reassembles exactly', () => {
    const text = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} says something about item ${i * 3}.`).join(' ') + '\n\nA new paragraph. ' + 'x'.repeat(300);
    const chunks = chunkText(text, tok, 128);
    expect(chunks.map((c) => c.text).join('')).toBe(text);
    expect(chunks.every((c) => c.tokens <= 128)).toBe(true);
    expect(chunks.every((c) => c.tokens === tok.encode(c.text).length)).toBe(true);
    // Boundaries fall after sentences wherever a sentence fits.
    expect(chunks.slice(0, -3).every((c) => /[.!?]\s*$/.test(c.text))).toBe(true);
    expect(chunkText('Short.', tok).length).toBe(1);
    expect(chunkText(text, tok).length).toBeLessThan(chunks.length);
  });
});

describe('templates', () => {
  it('has a style- and perspective-diverse knowledge library and a math learning note', () => {
    expect(KNOWLEDGE_TEMPLATES.length).toBeGreaterThanOrEqual(8);
    expect(new Set(KNOWLEDGE_TEMPLATES.map((t) => t.name)).size).toBe(KNOWLEDGE_TEMPLATES.length);
    for (const n of ['encyclopedic', 'qa', 'lecture-notes', 'narrative', 'textbook', 'faq', 'first-person-expert', 'for-a-child']) expect(KNOWLEDGE_TEMPLATES.map((t) => t.name)).toContain(n);
    expect(MATH_TEMPLATES[0]!.name).toBe('learning-note');
    expect(MATH_TEMPLATES[0]!.instruction).toMatch(/step-by-step/);
  });
  it('puts the rewrite so far and the part number in chunk prompts', () => {
    const m = rewriteMessages(KNOWLEDGE_TEMPLATES[0]!, { chunk: 'Part two.', previous: 'Part one, rewritten.', chunkIndex: 1, chunkCount: 3 });
    expect(m[1]!.content).toContain('The rewrite so far');
    expect(m[1]!.content).toContain('Part one, rewritten.');
    expect(m[1]!.content).toContain('part 2 of 3:\nPart two.');
  });
  it('chooses templates deterministically, walking the list per index', () => {
    const ts = selectTemplates('knowledge', undefined);
    const picks = Array.from({ length: ts.length }, (_, i) => templateFor('doc-1', i, ts).name);
    expect(new Set(picks).size).toBe(ts.length);
    expect(templateFor('doc-1', 3, ts)).toBe(templateFor('doc-1', 3, ts));
    expect(() => selectTemplates('knowledge', ['nope'])).toThrow(/unknown template "nope"/);
    expect(selectTemplates('math', undefined).map((t) => t.name)).toEqual(['learning-note']);
  });
  it('guesses non-English text', () => {
    expect(looksNonEnglish('Der Hund läuft schnell über die Straße und bellt, während die Katze im Garten schläft und träumt von Mäusen und Vögeln heute.')).toBe(true);
    expect(looksNonEnglish('東京は日本の首都です。')).toBe(true);
    expect(looksNonEnglish('Das Matterhorn ist ein 4478 Meter hoher Berg in den Walliser Alpen an der Grenze zwischen der Schweiz und Italien.')).toBe(true);
    expect(looksNonEnglish('The dog runs quickly across the road and barks, while the cat sleeps in the garden and dreams of mice and birds today.')).toBe(false);
  });
});

describe('fidelity checks', () => {
  const b = { minNumberRecall: 1, minEntityRecall: 0.7, minOverlap: 0.1, maxOverlap: 0.9 };
  const src = 'Marie Curie won the Nobel Prize in 1903 and again in 1911. She worked in Paris with 1,200 samples.';
  it('passes a faithful rewrite', () => {
    const c = cheapChecks(src, 'In 1903 Marie Curie received the Nobel Prize, which she won again in 1911; in Paris she studied 1200 samples.', b);
    expect(c.reasons).toEqual([]);
    expect(c.ok).toBe(true);
    expect(c.numbers).toMatchObject({ total: 3, found: 3 });
    expect(c.entities.total).toBeGreaterThanOrEqual(4);
  });
  it('fails a rewrite with a missing number, missing names, an unrelated text or a copy', () => {
    expect(cheapChecks(src, 'Marie Curie won the Nobel Prize in Paris in 1903 with 1,200 samples, and later again.', b).reasons.join()).toMatch(/numbers missing.*1911/);
    expect(cheapChecks(src, 'A scientist won a prize in 1903 and 1911 using 1200 samples.', b).reasons.join()).toMatch(/entities missing/);
    expect(cheapChecks(src, 'Bananas are yellow 1903 1911 1200 Marie Curie Nobel Prize Paris.', { ...b, minOverlap: 0.5 }).reasons.join()).toMatch(/below 0.5/);
    expect(cheapChecks(src, src, b).reasons.join()).toMatch(/a copy/);
  });
  it('parses judge verdicts', () => {
    expect(parseVerdict('Sure! {"verdict": "PASS", "reasons": []} done')).toEqual({ verdict: 'pass', reasons: [] });
    expect(parseVerdict('```json\n{"verdict": "fail", "reasons": ["adds a date", "drops {x}"]}\n```')).toEqual({ verdict: 'fail', reasons: ['adds a date', 'drops {x}'] });
    expect(parseVerdict('no verdict {here}')).toBeUndefined();
  });
});

describe('resumable writer', () => {
  it('truncates a partial last line and keeps complete records', async () => {
    const path = join(dir, 'out.jsonl');
    const w = JsonlAppender.open(path);
    w.append({ n: 1 });
    w.append({ n: 2 });
    w.close();
    await appendFile(path, '{"n": 3, "te');
    const r = JsonlAppender.open<{ n: number }>(path);
    expect(r.existing).toEqual([{ n: 1 }, { n: 2 }]);
    expect(r.truncatedBytes).toBe('{"n": 3, "te'.length);
    r.append({ n: 3 });
    r.close();
    expect(await readFile(path, 'utf8')).toBe('{"n":1}\n{"n":2}\n{"n":3}\n');
  });
  it('refuses a corrupt middle line', async () => {
    const path = join(dir, 'bad.jsonl');
    await writeFile(path, '{"n":1}\nnot json\n{"n":2}\n');
    expect(() => JsonlAppender.open(path)).toThrow(/line 2 is not JSON/);
  });
});

describe('config and queue helpers', () => {
  it('validates the config, naming bad paths', () => {
    const ok = parseRephraseConfig({ input: 'in.jsonl', output: 'out.jsonl', provider: { kind: 'openai', model: 'm' } });
    expect(ok.chunkTokens).toBe(256);
    expect(ok.verify.judge).toBe('llm');
    try {
      parseRephraseConfig({ input: 'in.jsonl', provider: { kind: 'openai', maxRetries: -1 }, rephrasings: 0, sampling: { temperature: 'hot' }, extra: 1 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const paths = (e as ConfigError).issues.map((i) => i.path);
      expect(paths).toEqual(expect.arrayContaining(['output', 'provider.maxRetries', 'rephrasings', 'sampling.temperature', '(root)']));
    }
  });
  it('makes BullMQ-safe job ids and Redis options', () => {
    expect(jobIdFor('doc-1', 2)).toBe('doc-1#2');
    expect(jobIdFor('urn:x:50%', 0)).toBe('urn%3Ax%3A50%25#0');
    expect(redisConnection('redis://:pw@10.0.0.1:6380/2')).toMatchObject({ host: '10.0.0.1', port: 6380, password: 'pw', db: 2, maxRetriesPerRequest: null });
    expect(() => redisConnection('http://x')).toThrow(/not a Redis URL/);
  });
});
