/**
 * A micro-batcher: requests arriving within `waitMs` of the first one are collected, grouped by
 * a compatibility key (requests that can share one batched call) and run as one call per group
 * (at most `maxBatch` items each). The run is synchronous (generation blocks the thread), so the
 * batcher yields to the event loop between groups to keep a server answering.
 */
export class MicroBatcher<I, R> {
  private pending: { item: I; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Batches run so far, and their sizes (for tests and metrics). */
  readonly batchSizes: number[] = [];

  constructor(
    private readonly opts: { waitMs: number; maxBatch: number; key: (item: I) => string; run: (items: I[]) => R[] | Promise<R[]> },
  ) {}

  /** Queues one item for the next batch; resolves with its result. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer || this.running || this.pending.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.opts.waitMs);
  }

  private async flush(): Promise<void> {
    this.running = true;
    const batch = this.pending;
    this.pending = [];
    const groups = new Map<string, typeof batch>();
    for (const p of batch) {
      const k = this.opts.key(p.item);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = []));
      g.push(p);
    }
    try {
      for (const group of groups.values()) {
        for (let i = 0; i < group.length; i += this.opts.maxBatch) {
          const slice = group.slice(i, i + this.opts.maxBatch);
          this.batchSizes.push(slice.length);
          try {
            const out = await this.opts.run(slice.map((p) => p.item));
            slice.forEach((p, j) => p.resolve(out[j]!));
          } catch (e) {
            for (const p of slice) p.reject(e);
          }
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
