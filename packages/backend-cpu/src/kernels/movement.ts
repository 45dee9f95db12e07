import type { DataArray, Shape } from '@karakoram/core';
import { stridesOf } from './strided.js';

export function permute(x: DataArray, shape: Shape, perm: readonly number[], out: DataArray): void {
  const rank = shape.length;
  const inStrides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]!);
  const st = perm.map((p) => inStrides[p]!);
  // Innermost loop unrolled over the last output dim.
  const last = rank - 1;
  const nLast = outShape[last]!;
  const sLast = st[last]!;
  const outer = nLast === 0 ? 0 : out.length / nLast;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  let o = 0;
  for (let r = 0; r < outer; r++) {
    for (let j = 0, p = off; j < nLast; j++, p += sLast) out[o++] = x[p]!;
    for (let d = last - 1; d >= 0; d--) {
      idx[d]!++;
      off += st[d]!;
      if (idx[d]! < outShape[d]!) break;
      off -= st[d]! * idx[d]!;
      idx[d] = 0;
    }
  }
}

/** Copies the box [begin, begin+size) of x into out (contiguous). */
export function slice(x: DataArray, shape: Shape, begin: readonly number[], size: readonly number[], out: DataArray): void {
  const rank = shape.length;
  if (out.length === 0) return;
  if (rank === 0) {
    out[0] = x[0]!;
    return;
  }
  const st = stridesOf(shape);
  const last = rank - 1;
  const rowLen = size[last]!;
  const rows = out.length / rowLen;
  const idx = new Array<number>(rank).fill(0);
  let base = begin.reduce((a, b, i) => a + b * st[i]!, 0);
  let o = 0;
  for (let r = 0; r < rows; r++) {
    out.set(x.subarray(base, base + rowLen), o);
    o += rowLen;
    for (let d = last - 1; d >= 0; d--) {
      idx[d]!++;
      base += st[d]!;
      if (idx[d]! < size[d]!) break;
      base -= st[d]! * idx[d]!;
      idx[d] = 0;
    }
  }
}

/** Writes x into the box at `begin` of a zeroed out of shape outShape (pad and concat). */
export function place(x: DataArray, shape: Shape, out: DataArray, outShape: Shape, begin: readonly number[]): void {
  if (x.length === 0) return;
  const rank = shape.length;
  if (rank === 0) {
    out[0] = x[0]!;
    return;
  }
  const st = stridesOf(outShape);
  const last = rank - 1;
  const rowLen = shape[last]!;
  const rows = x.length / rowLen;
  const idx = new Array<number>(rank).fill(0);
  let base = begin.reduce((a, b, i) => a + b * st[i]!, 0);
  let i = 0;
  for (let r = 0; r < rows; r++) {
    out.set(x.subarray(i, i + rowLen), base);
    i += rowLen;
    for (let d = last - 1; d >= 0; d--) {
      idx[d]!++;
      base += st[d]!;
      if (idx[d]! < shape[d]!) break;
      base -= st[d]! * idx[d]!;
      idx[d] = 0;
    }
  }
}
