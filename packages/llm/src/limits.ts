/** Concurrency cap, token-bucket rate limit and backoff, shared by every call of one provider. */

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** At most `limit` holders at once; waiters are served first in, first out. */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`Semaphore: limit must be at least 1, got ${limit}`);
  }
  get inUse(): number {
    return this.active;
  }
  /** Waits for a slot; resolves with its release function (safe to call twice). */
  async acquire(): Promise<() => void> {
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((r) => this.waiters.push(r)); // the slot is handed over by release
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    };
  }
  /** Runs `fn` holding a slot, releasing it when `fn` settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * Token bucket: `perMinute` requests a minute on average, bursts up to `burst` (default: one
 * second's worth, at least 1). `take()` resolves when a token is available; callers queue in order.
 */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();
  private readonly ratePerMs: number;
  private readonly capacity: number;
  private chain: Promise<void> = Promise.resolve();
  constructor(perMinute: number, burst?: number) {
    if (!(perMinute > 0)) throw new RangeError(`TokenBucket: perMinute must be positive, got ${perMinute}`);
    this.ratePerMs = perMinute / 60_000;
    this.capacity = Math.max(1, burst ?? Math.ceil(perMinute / 60));
    this.tokens = this.capacity;
  }
  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.ratePerMs);
    this.last = now;
  }
  /** Resolves when a token is available (in call order) and spends it. */
  take(): Promise<void> {
    const next = this.chain.then(async () => {
      this.refill();
      if (this.tokens < 1) {
        await sleep((1 - this.tokens) / this.ratePerMs);
        this.refill();
      }
      this.tokens -= 1;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/** Full-jitter exponential backoff: uniform in [0.5, 1] × min(max, base·2^attempt). */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, rand: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** attempt);
  return cap * (0.5 + 0.5 * rand());
}

/** Retry-After (seconds or an HTTP date) or retry-after-ms, in ms; undefined when absent or bad. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const v = headers.get('retry-after');
  if (v === null || v.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}
