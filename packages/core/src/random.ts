/**
 * The counter-based random generator every backend implements bit for bit: element i of a draw
 * with seed s is a pure function of (s, i), so results do not depend on the backend, on thread
 * count or on evaluation order. Only 32-bit integer multiply, xor and shift are used, which WGSL,
 * WebAssembly and JS (Math.imul) all have.
 */
export function hash32(seed: number, index: number): number {
  let h = (Math.imul(index ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(seed | 0, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform in [0, 1) with 24 bits, exactly representable in f32. */
export function uniformAt(seed: number, index: number): number {
  return (hash32(seed, index) >>> 8) * (1 / 16777216);
}

/** Standard normal by Box-Muller on two uniforms taken from the counter stream 2i and 2i+1. */
export function normalAt(seed: number, index: number): number {
  const u1 = uniformAt(seed, 2 * index) + 1 / 33554432; // keep log() finite
  const u2 = uniformAt(seed, 2 * index + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** The distribution of a random draw: uniform in [0, 1) or standard normal. */
export type RandomKind = 'uniform' | 'normal';
