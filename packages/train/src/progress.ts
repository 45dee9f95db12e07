/**
 * A one-line progress bar with rate and ETA. On a TTY it redraws in place; elsewhere (CI, logs)
 * it prints a line every `everyMs` so output stays readable.
 */
export class ProgressBar {
  private readonly start = Date.now();
  private lastPrint = 0;
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly unit: string,
    private readonly out: NodeJS.WriteStream | undefined = typeof process !== 'undefined' ? process.stderr : undefined,
    private readonly everyMs = 2000,
  ) {
    this.tty = Boolean(this.out?.isTTY);
  }

  /** `done` items of `total`; `units` is the count the rate is measured in (tokens, docs). */
  update(done: number, units: number, extra = ''): void {
    if (!this.out) return;
    const now = Date.now();
    const final = done >= this.total;
    if (!final && now - this.lastPrint < (this.tty ? 100 : this.everyMs)) return;
    this.lastPrint = now;
    const secs = (now - this.start) / 1000;
    const rate = units / Math.max(secs, 1e-9);
    const eta = done > 0 ? (secs / done) * (this.total - done) : NaN;
    const width = 24;
    const filled = Math.round((width * Math.min(done, this.total)) / Math.max(1, this.total));
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const line = `${this.label} ${bar} ${done}/${this.total} ${formatRate(rate)} ${this.unit}/s ETA ${formatTime(eta)} ${extra}`;
    if (this.tty) this.out.write(`\r${line.padEnd(110)}${final ? '\n' : ''}`);
    else this.out.write(`${line}\n`);
  }
}

/** A rate for the progress line: 1.5k, 2.30M, or '-' when not finite. */
export function formatRate(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : r >= 1e3 ? `${(r / 1e3).toFixed(1)}k` : r.toFixed(1);
}

/** Seconds as m:ss, or XhYYm from an hour on; '--:--' when not finite. */
export function formatTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}
