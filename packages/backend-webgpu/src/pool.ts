/**
 * GPUBuffers reused by size class. Freed buffers go back to a free list keyed by (usage, size
 * class) and are handed out again before anything new is created, so a training loop that
 * allocates the same shapes each step stops creating buffers after its first step.
 */
export interface PoolStats {
  /** Buffers created and not yet destroyed (live + free). */
  allocated: number;
  allocatedBytes: number;
  /** Buffers waiting in the free lists. */
  free: number;
  freeBytes: number;
}

/** Size classes: powers of two up to 64 KiB, then steps of 1/8 of the power of two. */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 65536) return 2 ** Math.ceil(Math.log2(b));
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 8;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private allocated = 0;
  private allocatedBytes = 0;
  private freeCount = 0;
  private freeBytes = 0;

  constructor(private readonly device: GPUDevice, private readonly maxFreeBytes = 512 * 1024 * 1024) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(`${usage}:${size}`);
    const b = list?.pop();
    if (b) {
      this.freeCount--;
      this.freeBytes -= size;
      return b;
    }
    this.allocated++;
    this.allocatedBytes += size;
    return this.device.createBuffer({ size, usage });
  }

  release(b: GPUBuffer): void {
    const key = `${b.usage}:${b.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(b);
    this.freeCount++;
    this.freeBytes += b.size;
  }

  /**
   * Destroys free buffers beyond the cap, largest first. Only call when no unsubmitted command
   * references them (the backend calls it right after a submit).
   */
  trim(): void {
    if (this.freeBytes <= this.maxFreeBytes) return;
    const keys = [...this.free.keys()].sort((a, b) => Number(b.split(':')[1]) - Number(a.split(':')[1]));
    for (const k of keys) {
      const list = this.free.get(k)!;
      while (list.length && this.freeBytes > this.maxFreeBytes) {
        const b = list.pop()!;
        this.freeCount--;
        this.freeBytes -= b.size;
        this.allocated--;
        this.allocatedBytes -= b.size;
        b.destroy();
      }
    }
  }

  stats(): PoolStats {
    return { allocated: this.allocated, allocatedBytes: this.allocatedBytes, free: this.freeCount, freeBytes: this.freeBytes };
  }

  destroyAll(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
  }
}
