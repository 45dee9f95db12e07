import { arr, sizeOfShape, type Arr } from './ref.js';

/** FNV-1a of a string: each test seeds its own generator from its id, so order does not matter. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small seeded generator for test data (not the tensor RNG under test). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** f32-representable uniform in [lo, hi). */
  uniform(lo = -1, hi = 1): number {
    return Math.fround(lo + (hi - lo) * this.next());
  }
  int(lo: number, hiExclusive: number): number {
    return lo + Math.floor(this.next() * (hiExclusive - lo));
  }
  /** Uniform f32 data of `shape`. */
  arr(shape: readonly number[], lo = -1, hi = 1): Arr {
    return arr(shape, Array.from({ length: sizeOfShape(shape) }, () => this.uniform(lo, hi)));
  }
  /** Integers in [lo, hi). */
  ints(shape: readonly number[], lo: number, hi: number): Arr {
    return arr(shape, Array.from({ length: sizeOfShape(shape) }, () => this.int(lo, hi)));
  }
  /** Magnitudes in [lo, hi) with random signs: data kept away from zero. */
  signed(shape: readonly number[], lo: number, hi: number): Arr {
    return arr(shape, Array.from({ length: sizeOfShape(shape) }, () => (this.next() < 0.5 ? -1 : 1) * this.uniform(lo, hi)));
  }
  /**
   * Distinct values on a grid `step` apart (shuffled), offset by `offset`: no ties and gaps far
   * above a finite-difference step. Two arrays with offsets differing by step/2 never tie.
   */
  distinct(shape: readonly number[], step = 0.1, offset = 0.0125): Arr {
    const n = sizeOfShape(shape);
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    return arr(shape, perm.map((p) => Math.fround((p - Math.floor(n / 2)) * step + offset)));
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
}

/** n f32 values uniform in [lo, hi) from a seed: test data for backend tests outside the suite. */
export function randomF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.uniform(lo, hi);
  return out;
}
