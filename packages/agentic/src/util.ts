/** Small deterministic helpers: seeded randomness, stable hashing, stable JSON. */
import { createHash } from 'node:crypto';

/** 32-bit FNV-1a of a string. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a seeded uniform [0, 1) generator. */
export function rng(seed: number | string): () => number {
  let a = typeof seed === 'string' ? hash32(seed) : seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded Fisher-Yates shuffle (a copy). */
export function shuffle<T>(xs: readonly T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** JSON with object keys sorted (for hashes and comparisons). */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`).join(',')}}`;
}

/** The first `n` hex digits of the SHA-256 of `s`. */
export const sha = (s: string, n = 16): string => createHash('sha256').update(s).digest('hex').slice(0, n);

/** "Get Weather!" → "get_weather". */
export const normalizeName = (s: string): string => s.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');

/** `s` cut to `n` characters (with an ellipsis when cut). */
export const snippet = (s: string, n = 200): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The message of an Error, or the value as a string. */
export const errMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
