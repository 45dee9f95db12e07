/**
 * The resumable JSONL files every stage reads and writes. Writing reuses @karakoram/data-rephrase's
 * JsonlAppender (one line per record, fsync, a torn last line truncated on open) and OutputLock
 * (one writer per output). Each stage has an OUTPUT file of records with ids and an
 * OUTPUT.failures.jsonl of FailureRecords; on rerun, ids in OUTPUT and ids with a final failure
 * are skipped (unless `retryFailed`), so a record is done once.
 */
import { createReadStream, existsSync, renameSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { KarakoramError } from '@karakoram/core';
import { JsonlAppender, OutputLock } from '@karakoram/data-rephrase';

/** Why something did not make it: one line of a stage's failures file. */
export interface FailureRecord {
  /** The id of the record that failed (or of the event, for non-final failures). */
  id: string;
  stage: string;
  /** A short machine-readable kind: invalid_schema, llm_json, invalid_tool_args, mcp_server_died, judge_not_json, … */
  kind: string;
  reasons: string[];
  /** true: the record is given up (skipped on rerun); false: recorded, the work went on (a fallback, a bad call the agent saw). */
  final: boolean;
  /** The record this event belongs to, for non-final failures. */
  recordId?: string;
}

/** The failures file next to a stage output (X.jsonl → X.failures.jsonl). */
export const failuresPath = (output: string): string => output.replace(/(\.jsonl)?$/, '.failures.jsonl');

/** A stage's output and failures files, opened for resuming. */
export class StageFiles<T extends { id: string }> {
  readonly done = new Set<string>();
  private readonly all: T[];
  written = 0;
  failed = 0;
  private constructor(
    readonly stage: string,
    readonly out: JsonlAppender<T>,
    readonly failures: JsonlAppender<FailureRecord>,
    private readonly lock: OutputLock,
    retryFailed: boolean,
  ) {
    this.all = [...out.existing];
    for (const r of out.existing) this.done.add(r.id);
    for (const f of failures.existing) if (f.final && !retryFailed) this.done.add(f.id);
  }

  /** Locks `output` and opens it and its failures file, loading what is already done. */
  static open<T extends { id: string }>(stage: string, output: string, opts: { retryFailed?: boolean } = {}): StageFiles<T> {
    const lock = OutputLock.acquire(output);
    try {
      return new StageFiles<T>(stage, JsonlAppender.open<T>(output), JsonlAppender.open<FailureRecord>(failuresPath(output)), lock, opts.retryFailed ?? false);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /** Every record in the output: those found on open and those written since. */
  get records(): readonly T[] {
    return this.all;
  }

  /** Whether this id is done: written, or failed for good (unless failures are retried). */
  isDone(id: string): boolean {
    return this.done.has(id);
  }

  /** Appends a record unless its id is done (a redelivered job); returns whether it was written. */
  write(r: T): boolean {
    if (this.done.has(r.id)) return false;
    this.done.add(r.id);
    this.out.append(r);
    this.all.push(r);
    this.written++;
    return true;
  }

  /** Records a failure; a final one marks its id done. */
  fail(f: Omit<FailureRecord, 'stage'> & { stage?: string }): void {
    const rec: FailureRecord = { stage: this.stage, ...f };
    if (rec.final) {
      if (this.done.has(rec.id)) return;
      this.done.add(rec.id);
      this.failed++;
    }
    this.failures.append(rec);
  }

  /** Closes both files and releases the output lock. */
  close(): void {
    this.out.close();
    this.failures.close();
    this.lock.release();
  }
}

/** Reads a JSONL file of records with string ids, with 1-based line numbers; bad lines are reported and skipped. */
export async function readRecords<T extends { id: string }>(path: string, onBad?: (line: number, why: string) => void, unique = true): Promise<T[]> {
  if (!existsSync(path)) throw new KarakoramError('data', `input file not found (run the earlier stage first)`, path);
  const out: T[] = [];
  const seen = new Set<string>();
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  for await (const raw of rl) {
    line++;
    if (raw.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      onBad?.(line, `invalid JSON: ${(e as Error).message}`);
      continue;
    }
    const id = (v as { id?: unknown })?.id;
    if (typeof id !== 'string' || !id) {
      onBad?.(line, 'missing a string "id"');
      continue;
    }
    if (unique && seen.has(id)) {
      onBad?.(line, `duplicate id ${JSON.stringify(id)}`);
      continue;
    }
    seen.add(id);
    out.push(v as T);
  }
  return out;
}

/** Writes a file whole: to a temporary name, then renamed. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
