/**
 * Stage 6 and the in-process run: one rephrasing of one document (chunk → rewrite → verify,
 * retried up to maxAttempts, else dropped with the reasons), and `runRephrase`, which streams the
 * input through it with a concurrency cap, appending each result to the resumable output.
 *
 *   in:  RephraseConfig (input JSONL, provider, templates, verification, …)
 *   out: OUTPUT, one RephraseRecord per (source_id, index) that passed (or, with
 *        verify.enforce false, whatever its verdict); REJECTS, one line per malformed input line
 *        and per dropped rephrasing. Together they hold each (source_id, index) exactly once.
 *
 * Resuming: both files are read on start (a partial last line is truncated); finished
 * (source_id, index) pairs and already-reported malformed lines are skipped. Provider failures
 * (after the provider's own retries) stop the run with that error; what finished is kept.
 */
import type { Tokenizer } from '@karakoram/model';
import type { ChatProvider } from '@karakoram/llm';
import { ProgressBar } from '@karakoram/train';
import { chunkText } from './chunker.js';
import { rejectsPath, type RephraseConfig } from './config.js';
import { buildProviders, chunkTokenizer } from './providers.js';
import { countRecords, readJsonl, type MalformedLine, type SourceDoc } from './reader.js';
import { rewriteChunks, type TokenUsage } from './rewrite.js';
import { looksNonEnglish, selectTemplates, templateFor, type RephraseTemplate } from './templates.js';
import { verifyRewrite, type CheapChecks, type Verdict } from './verify.js';
import { JsonlAppender, OutputLock } from './writer.js';

/** One output line. */
export interface RephraseRecord {
  /** `${source_id}:${index}` */
  id: string;
  source_id: string;
  index: number;
  template: string;
  chunk_count: number;
  verdict: Verdict;
  reasons: string[];
  checks: CheapChecks;
  attempts: number;
  translated: boolean;
  text: string;
  usage: { prompt_tokens: number; completion_tokens: number };
}

/** One line of the rejects file: a malformed input line or a dropped rephrasing. */
export type RejectRecord =
  | ({ kind: 'malformed' } & MalformedLine)
  | { kind: 'dropped'; id: string; source_id: string; index: number; template: string; attempts: number; reasons: string[] };

/** The result of rephrasing one (document, index): a record, or a drop after failed verification, with the tokens used. */
export type Outcome = { record: RephraseRecord; usage: TokenUsage } | { dropped: Extract<RejectRecord, { kind: 'dropped' }>; usage: TokenUsage };

/** The id of a rephrased record ("SOURCE_ID:INDEX"). */
export const recordId = (sourceId: string, index: number): string => `${sourceId}:${index}`;
const key = (sourceId: string, index: number): string => JSON.stringify([sourceId, index]);

/** Rephrases one (document, index): the unit of work of both the in-process run and a queue job. */
export class Rephraser {
  readonly templates: RephraseTemplate[];
  constructor(
    readonly cfg: RephraseConfig,
    readonly provider: ChatProvider,
    readonly judge: ChatProvider,
    readonly tokenizer: Tokenizer,
  ) {
    this.templates = selectTemplates(cfg.mode, cfg.templates, cfg.customTemplates);
  }

  /** Rephrases one document for rephrasing `index`: chunk, rewrite, verify, retrying up to `maxAttempts`; returns the record, or the drop when verification keeps failing. */
  async rephrase(doc: Pick<SourceDoc, 'id' | 'text'>, index: number): Promise<Outcome> {
    const { cfg } = this;
    const template = templateFor(doc.id, index, this.templates);
    const chunks = chunkText(doc.text, this.tokenizer, cfg.chunkTokens);
    const translate = cfg.translate === 'always' || (cfg.translate === 'auto' && looksNonEnglish(doc.text));
    const usage: TokenUsage = { prompt: 0, completion: 0 };
    let reasons: string[] = [];
    for (let attempt = 0; attempt < cfg.maxAttempts; attempt++) {
      const s = cfg.sampling;
      const sampling = { temperature: attempt === 0 ? s.temperature : Math.max(s.temperature, s.retryTemperature), topP: s.topP, maxTokens: s.maxTokens, seed: s.seed + 1000 * index + attempt };
      const rw = await rewriteChunks(this.provider, template, chunks, { sampling, contextTokens: cfg.contextTokens, tokenizer: this.tokenizer, translate });
      usage.prompt += rw.usage.prompt;
      usage.completion += rw.usage.completion;
      const v = await verifyRewrite(rw.source, rw.text, { ...cfg.verify, provider: this.judge });
      usage.prompt += v.usage.prompt;
      usage.completion += v.usage.completion;
      if (v.verdict !== 'fail' || !cfg.verify.enforce) {
        return {
          usage,
          record: {
            id: recordId(doc.id, index), source_id: doc.id, index, template: template.name, chunk_count: chunks.length,
            verdict: v.verdict, reasons: v.reasons, checks: v.checks, attempts: attempt + 1, translated: translate, text: rw.text,
            usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion },
          },
        };
      }
      reasons = v.reasons;
    }
    return {
      usage,
      dropped: { kind: 'dropped', id: recordId(doc.id, index), source_id: doc.id, index, template: template.name, attempts: cfg.maxAttempts, reasons: [`failed verification ${cfg.maxAttempts} time(s)`, ...reasons] },
    };
  }
}

/** The output and rejects files of a run, opened for resuming. */
export class RunFiles {
  private readonly done = new Set<string>();
  private readonly reportedLines = new Set<number>();
  written = 0;
  dropped = 0;
  malformed = 0;

  private constructor(readonly out: JsonlAppender<RephraseRecord>, readonly rejects: JsonlAppender<RejectRecord>, private readonly lock: OutputLock) {
    for (const r of out.existing) this.done.add(key(r.source_id, r.index));
    for (const r of rejects.existing) {
      if (r.kind === 'dropped') this.done.add(key(r.source_id, r.index));
      else this.reportedLines.add(r.line);
    }
  }

  /** Opens (and locks, see OutputLock) the output and rejects files of a run. */
  static open(cfg: RephraseConfig): RunFiles {
    const lock = OutputLock.acquire(cfg.output);
    try {
      return new RunFiles(JsonlAppender.open<RephraseRecord>(cfg.output), JsonlAppender.open<RejectRecord>(rejectsPath(cfg)), lock);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  get finishedBefore(): number {
    return this.done.size;
  }

  /** Whether rephrasing `index` of this source document is already written. */
  isDone(sourceId: string, index: number): boolean {
    return this.done.has(key(sourceId, index));
  }

  /** Writes an outcome unless its pair is already written (a redelivered queue job). */
  write(o: Outcome): void {
    const r = 'record' in o ? o.record : o.dropped;
    const k = key(r.source_id, r.index);
    if (this.done.has(k)) return;
    this.done.add(k);
    if ('record' in o) {
      this.out.append(o.record);
      this.written++;
    } else {
      this.rejects.append(o.dropped);
      this.dropped++;
    }
  }

  /** Counts a malformed input line and records it in the rejects file (once per line). */
  reportMalformed(m: MalformedLine): void {
    this.malformed++;
    if (this.reportedLines.has(m.line)) return;
    this.reportedLines.add(m.line);
    this.rejects.append({ kind: 'malformed', ...m });
  }

  /** Closes the output and rejects files and releases the output lock. */
  close(): void {
    this.out.close();
    this.rejects.close();
    this.lock.release();
  }
}

/** What a rephrase run did: counts of documents, rephrasings written, dropped and skipped, and token usage. */
export interface RephraseSummary {
  /** Input documents read (good lines, up to `limit`). */
  docs: number;
  /** Rephrasings done in this run. */
  written: number;
  dropped: number;
  /** Pairs already finished by an earlier run. */
  skipped: number;
  malformed: number;
  promptTokens: number;
  completionTokens: number;
  seconds: number;
  output: string;
  rejects: string;
  /** Bytes of a partial last line cut from the output or rejects on resume. */
  truncatedBytes: number;
}

/** Options of a rephrase run. */
export interface RunOptions {
  /** Where log lines go (default: stderr). */
  log?: (s: string) => void;
  /** Where the progress bar goes (default stderr; off when cfg.progress is false). */
  progressStream?: NodeJS.WriteStream;
}

/** The tasks of a run: each (document, index) not finished yet, in input order. */
export async function* pendingTasks(cfg: RephraseConfig, files: RunFiles, counts: { docs: number; skipped: number }): AsyncGenerator<{ doc: SourceDoc; index: number }> {
  for await (const doc of readJsonl(cfg.input, { idField: cfg.idField, textField: cfg.textField, strict: cfg.strict, onMalformed: (m) => files.reportMalformed(m) })) {
    if (cfg.limit !== undefined && counts.docs >= cfg.limit) break;
    counts.docs++;
    for (let index = 0; index < cfg.rephrasings; index++) {
      if (files.isDone(doc.id, index)) counts.skipped++;
      else yield { doc, index };
    }
  }
}

/** Fails before any work when `strict` and the input has a bad line. */
export async function strictPrescan(cfg: RephraseConfig): Promise<void> {
  if (!cfg.strict) return;
  for await (const _ of readJsonl(cfg.input, { idField: cfg.idField, textField: cfg.textField, strict: true })) void _;
}

/** A progress tracker for a run: `tick` adds one finished rephrasing and its tokens to `usage` and the progress bar. */
export function progressFor(cfg: RephraseConfig, totalDocs: number, opts: RunOptions): {
  /** Counts one finished rephrasing and adds its tokens to `usage`. */
  tick: (usage: TokenUsage) => void; usage: TokenUsage } {
  const total = Math.min(totalDocs, cfg.limit ?? Infinity) * cfg.rephrasings;
  const bar = cfg.progress ? new ProgressBar(total, 'rephrase', 'docs', opts.progressStream) : undefined;
  const usage: TokenUsage = { prompt: 0, completion: 0 };
  let done = 0;
  return {
    usage,
    tick: (u) => {
      done++;
      usage.prompt += u.prompt;
      usage.completion += u.completion;
      bar?.update(done, done / cfg.rephrasings, `tokens in ${usage.prompt} out ${usage.completion}`);
    },
  };
}

/** The in-process run. */
export async function runRephrase(cfg: RephraseConfig, opts: RunOptions = {}): Promise<RephraseSummary> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const t0 = Date.now();
  await strictPrescan(cfg);
  const tokenizer = await chunkTokenizer(cfg.tokenizer);
  const files = RunFiles.open(cfg);
  let providers: Awaited<ReturnType<typeof buildProviders>> | undefined;
  try {
    const truncatedBytes = files.out.truncatedBytes + files.rejects.truncatedBytes;
    if (truncatedBytes) log(`resume: cut a partial last line (${truncatedBytes} bytes) left by an interrupted run`);
    if (files.finishedBefore) log(`resume: ${files.finishedBefore} rephrasing(s) already finished`);
    providers = await buildProviders(cfg);
    const rephraser = new Rephraser(cfg, providers.provider, providers.judge, tokenizer);
    const counts = { docs: 0, skipped: 0 };
    const inflight = new Set<Promise<void>>();
    let fatal: unknown;
    const progress = progressFor(cfg, await countRecords(cfg.input), opts);
    try {
      for await (const { doc, index } of pendingTasks(cfg, files, counts)) {
        while (inflight.size >= cfg.concurrency && !fatal) await Promise.race(inflight);
        if (fatal) break;
        const p: Promise<void> = rephraser
          .rephrase(doc, index)
          .then((o) => {
            files.write(o);
            progress.tick(o.usage);
          })
          .catch((e: unknown) => {
            fatal ??= e;
          })
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
    } catch (e) {
      fatal ??= e;
    }
    await Promise.all(inflight);
    if (fatal) throw fatal;
    return {
      docs: counts.docs, written: files.written, dropped: files.dropped, skipped: counts.skipped, malformed: files.malformed,
      promptTokens: progress.usage.prompt, completionTokens: progress.usage.completion, seconds: (Date.now() - t0) / 1000,
      output: cfg.output, rejects: rejectsPath(cfg), truncatedBytes,
    };
  } finally {
    files.close();
    providers?.close();
  }
}
