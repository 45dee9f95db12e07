import type { DataArray, ReduceOp, Shape } from '@karakoram/core';
import { broadcastOffsets } from './strided.js';

/** Reduces x over `axes` into out (kept-rank shape). Sums accumulate in f64 for accuracy. */
export function reduce(op: ReduceOp, x: DataArray, shape: Shape, axes: readonly number[], out: DataArray): void {
  const rank = shape.length;
  const init = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
  const trailing = axes.length > 0 && axes.every((a, i) => a === rank - axes.length + i);
  if (trailing) {
    const inner = axes.reduce((p, a) => p * shape[a]!, 1);
    const rows = out.length;
    for (let r = 0; r < rows; r++) {
      const base = r * inner;
      let acc = init;
      if (op === 'sum') for (let j = 0; j < inner; j++) acc += x[base + j]!;
      else if (op === 'max') for (let j = 0; j < inner; j++) { const v = x[base + j]!; if (v > acc || Number.isNaN(v)) acc = v; }
      else for (let j = 0; j < inner; j++) { const v = x[base + j]!; if (v < acc || Number.isNaN(v)) acc = v; }
      out[r] = acc;
    }
    return;
  }
  const contiguous = axes.length > 0 && axes.every((a, i) => a === axes[0]! + i);
  if (contiguous) {
    // [outer, reduced, inner] with inner > 1 (e.g. bias and gain gradients: sum over rows):
    // accumulate whole inner rows, in f64 for sums.
    const a0 = axes[0]!;
    const a1 = axes[axes.length - 1]!;
    const outer = shape.slice(0, a0).reduce((p, d) => p * d, 1);
    const red = shape.slice(a0, a1 + 1).reduce((p, d) => p * d, 1);
    const inner = shape.slice(a1 + 1).reduce((p, d) => p * d, 1);
    const acc = new Float64Array(inner);
    for (let o = 0; o < outer; o++) {
      acc.fill(init);
      for (let r = 0; r < red; r++) {
        const base = (o * red + r) * inner;
        if (op === 'sum') for (let j = 0; j < inner; j++) acc[j] += x[base + j]!;
        else if (op === 'max') for (let j = 0; j < inner; j++) { const v = x[base + j]!; if (v > acc[j]! || Number.isNaN(v)) acc[j] = v; }
        else for (let j = 0; j < inner; j++) { const v = x[base + j]!; if (v < acc[j]! || Number.isNaN(v)) acc[j] = v; }
      }
      for (let j = 0; j < inner; j++) out[o * inner + j] = acc[j]!;
    }
    return;
  }
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const off = broadcastOffsets(kept, shape);
  const acc = new Float64Array(out.length).fill(init);
  for (let i = 0; i < x.length; i++) {
    const o = off[i]!;
    const v = x[i]!;
    if (op === 'sum') acc[o]! += v;
    else if (op === 'max') { if (v > acc[o]! || Number.isNaN(v)) acc[o] = v; }
    else if (v < acc[o]! || Number.isNaN(v)) acc[o] = v;
  }
  for (let i = 0; i < out.length; i++) out[i] = acc[i]!;
}

/** Top-k along the last axis: descending, ties to the lower index, NaN ranks highest. */
export function topk(x: DataArray, n: number, k: number, values: DataArray, indices: Int32Array): void {
  const rows = n === 0 ? 0 : x.length / n;
  const idx = new Int32Array(n);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    if (k <= 8) {
      // Small k (the MoE router's case): k passes of insertion into a sorted buffer.
      let filled = 0;
      for (let j = 0; j < n; j++) {
        const v = x[base + j]!;
        let p = filled;
        while (p > 0 && greater(v, x[base + idx[p - 1]!]!)) p--;
        if (p >= k) continue;
        for (let q = Math.min(filled, k - 1); q > p; q--) idx[q] = idx[q - 1]!;
        idx[p] = j;
        if (filled < k) filled++;
      }
    } else {
      for (let j = 0; j < n; j++) idx[j] = j;
      const view = Array.from(idx);
      view.sort((a, b) => (greater(x[base + a]!, x[base + b]!) ? -1 : greater(x[base + b]!, x[base + a]!) ? 1 : a - b));
      for (let j = 0; j < k; j++) idx[j] = view[j]!;
    }
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = idx[j]!;
      values[r * k + j] = x[base + idx[j]!]!;
    }
  }
}

const greater = (a: number, b: number): boolean => a > b || (Number.isNaN(a) && !Number.isNaN(b));
