import { KarakoramError, type DataArray, type Shape } from '@karakoram/core';

function check(op: string, i: number, n: number): number {
  if (i < 0 || i >= n || !Number.isInteger(i)) throw new KarakoramError('index', `index ${i} is out of range [0, ${n})`, op);
  return i;
}

/** Checks every index before any output is allocated, so a bad index leaks nothing. */
export function checkIndices(op: string, idx: Int32Array, n: number): void {
  for (let i = 0; i < idx.length; i++) check(op, idx[i]!, n);
}

/** out[pre, i, post] = x[pre, idx[i], post] */
export function gather(x: DataArray, shape: Shape, idx: Int32Array, axis: number, out: DataArray): void {
  const pre = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const n = shape[axis]!;
  const post = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const m = idx.length;
  for (let p = 0; p < pre; p++) {
    for (let i = 0; i < m; i++) {
      const src = (p * n + check('gather', idx[i]!, n)) * post;
      const dst = (p * m + i) * post;
      if (post === 1) out[dst] = x[src]!;
      else out.set(x.subarray(src, src + post), dst);
    }
  }
}

/** out (zeroed, shape outShape)[pre, idx[i], post] += upd[pre, i, post] */
export function scatterAdd(outShape: Shape, idx: Int32Array, upd: DataArray, axis: number, out: DataArray): void {
  const pre = outShape.slice(0, axis).reduce((a, b) => a * b, 1);
  const n = outShape[axis]!;
  const post = outShape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const m = idx.length;
  for (let p = 0; p < pre; p++) {
    for (let i = 0; i < m; i++) {
      const dst = (p * n + check('scatterAdd', idx[i]!, n)) * post;
      const src = (p * m + i) * post;
      for (let j = 0; j < post; j++) out[dst + j]! += upd[src + j]!;
    }
  }
}
