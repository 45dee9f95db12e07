/**
 * Stage 7, the resumable JSONL writer (used by the in-process run and by the collecting side of
 * the queue run).
 *   in:  records, one at a time
 *   out: a JSONL file, one record a line, each appended with one write and an fsync
 * On open, the existing file is read: a partially written last line (a crash mid-write) is
 * detected and truncated away, and every complete record is handed back so the run can skip
 * what is done. A complete line that is not JSON is corruption, not a crash, and fails the open.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { KarakoramError } from '@karakoram/core';

/** An append-only JSONL file that survives crashes: each record is one fsynced line. */
export class JsonlAppender<T = unknown> {
  private fd: number | undefined;
  /** Bytes cut from a partial last line when the file was opened (0 when it was whole). */
  readonly truncatedBytes: number;
  /** The complete records already in the file. */
  readonly existing: T[];

  private constructor(readonly path: string, fd: number, existing: T[], truncatedBytes: number) {
    this.fd = fd;
    this.existing = existing;
    this.truncatedBytes = truncatedBytes;
  }

  /** Opens `path` for appending: loads the complete records and cuts a partial last line (a crash mid-write). */
  static open<T = unknown>(path: string): JsonlAppender<T> {
    mkdirSync(dirname(path), { recursive: true });
    const existing: T[] = [];
    let truncated = 0;
    if (existsSync(path)) {
      const buf = readFileSync(path);
      const end = buf.lastIndexOf(0x0a) + 1; // bytes up to and including the last newline
      truncated = buf.length - end;
      const lines = buf.subarray(0, end).toString('utf8').split('\n');
      lines.pop();
      lines.forEach((l, i) => {
        if (l.trim() === '') return;
        try {
          existing.push(JSON.parse(l) as T);
        } catch (e) {
          throw new KarakoramError('data', `line ${i + 1} is not JSON (${(e as Error).message}); the file is corrupt, not just cut short`, path);
        }
      });
      if (truncated > 0) {
        const fd = openSync(path, 'r+');
        ftruncateSync(fd, end);
        fsyncSync(fd);
        closeSync(fd);
      }
    }
    const fd = openSync(path, 'a');
    return new JsonlAppender<T>(path, fd, existing, truncated);
  }

  /** Appends one record as one line and fsyncs it. */
  append(record: T): void {
    if (this.fd === undefined) throw new KarakoramError('data', 'append after close', this.path);
    const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
    let off = 0;
    while (off < line.length) off += writeSync(this.fd, line, off, line.length - off);
    fsyncSync(this.fd);
  }

  /** Closes the file. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * One writer per output: `OUTPUT.lock` holds the writing process's id, created exclusively. A
 * lock whose process is gone (a crash, SIGKILL) is stale and taken over; one held by a live
 * process (or by this process, for another open run) is refused.
 */
export class OutputLock {
  private released = false;
  private constructor(readonly path: string) {}

  /** Takes the lock of `output` (`output`.lock), taking over a stale one; throws when a live process holds it. */
  static acquire(output: string): OutputLock {
    const path = `${output}.lock`;
    mkdirSync(dirname(path), { recursive: true });
    for (let tries = 0; tries < 3; tries++) {
      try {
        const fd = openSync(path, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return new OutputLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        let pid = NaN;
        try {
          pid = Number(readFileSync(path, 'utf8').trim());
        } catch {
          continue; // removed meanwhile: try again
        }
        if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
          throw new KarakoramError('data', `${output} is being written by process ${pid}${pid === process.pid ? ' (this one)' : ''}; one run per output at a time (remove ${path} if that is wrong)`, output);
        }
        rmSync(path, { force: true }); // stale: its process is gone
      }
    }
    throw new KarakoramError('data', `could not lock ${output}`, output);
  }

  /** Removes the lock file (once). */
  release(): void {
    if (this.released) return;
    this.released = true;
    rmSync(this.path, { force: true });
  }
}
