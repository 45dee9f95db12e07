/**
 * Stage 1, the JSONL reader.
 *   in:  a JSONL file, one object a line with an id (string or number) and a text (string)
 *   out: SourceDoc per good line, in file order; MalformedLine per bad one
 * Lines are numbered from 1. A bad line (invalid JSON, not an object, a missing or wrong-typed
 * id or text, an empty text, an id seen before) is reported through `onMalformed` and skipped, or
 * fails the run (KarakoramError naming the file and line) when `strict`. Blank lines are not
 * records and are passed over.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { KarakoramError } from '@karakoram/core';

/** One input document. */
export interface SourceDoc {
  id: string;
  text: string;
  /** 1-based line number in the input. */
  line: number;
}

/** An input line that is not a valid document, and why. */
export interface MalformedLine {
  line: number;
  error: string;
  /** The line, cut to 200 characters. */
  raw: string;
}

/** Options of {@link readJsonl}: the id and text field names and how bad lines are handled. */
export interface ReaderOptions {
  idField?: string;
  textField?: string;
  strict?: boolean;
  /** Called for each bad line (when not `strict`). */
  onMalformed?: (m: MalformedLine) => void;
}

/** Checks one line; returns the document or why it is malformed. */
export function parseLine(raw: string, line: number, idField = 'id', textField = 'text'): SourceDoc | string {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    return `invalid JSON: ${(e as Error).message}`;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return `expected a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`;
  const o = v as Record<string, unknown>;
  const id = o[idField];
  if (id === undefined) return `missing "${idField}"`;
  if (!(typeof id === 'string' && id.length > 0) && !(typeof id === 'number' && Number.isFinite(id))) return `"${idField}" must be a non-empty string or a number, got ${JSON.stringify(id)}`;
  const text = o[textField];
  if (text === undefined) return `missing "${textField}"`;
  if (typeof text !== 'string') return `"${textField}" must be a string, got ${typeof text}`;
  if (text.trim() === '') return `"${textField}" is empty`;
  return { id: String(id), text, line };
}

/** Streams the good documents of a JSONL file in order; bad lines go to `onMalformed` (or throw when `strict`). */
export async function* readJsonl(path: string, opts: ReaderOptions = {}): AsyncGenerator<SourceDoc> {
  const seen = new Set<string>();
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of rl) {
      line++;
      if (raw.trim() === '') continue;
      let r = parseLine(raw, line, opts.idField, opts.textField);
      if (typeof r !== 'string' && seen.has(r.id)) r = `duplicate id ${JSON.stringify(r.id)}`;
      if (typeof r === 'string') {
        if (opts.strict) throw new KarakoramError('data', `line ${line}: ${r}`, path);
        opts.onMalformed?.({ line, error: r, raw: raw.length > 200 ? `${raw.slice(0, 200)}…` : raw });
        continue;
      }
      seen.add(r.id);
      yield r;
    }
  } finally {
    rl.close();
  }
}

/** Non-blank lines in a file (for progress totals), read in a stream. */
export async function countRecords(path: string): Promise<number> {
  let n = 0;
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const raw of rl) if (raw.trim() !== '') n++;
  return n;
}
