import { stridesOf, type Shape } from '@karakoram/core';

/**
 * For each output element, the offset of the element of an input broadcast to outShape.
 * Broadcast dims get stride 0. Used by elementwise kernels off their fast paths.
 */
export function broadcastOffsets(inShape: Shape, outShape: Shape): Int32Array {
  const n = outShape.reduce((a, b) => a * b, 1);
  const rank = outShape.length;
  const lead = rank - inShape.length;
  const inStrides = stridesOf(inShape);
  const st = outShape.map((d, i) => (i < lead || inShape[i - lead] === 1 ? 0 : inStrides[i - lead]!));
  const out = new Int32Array(n);
  if (n === 0) return out;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    out[i] = off;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += st[d]!;
      if (idx[d]! < outShape[d]!) break;
      off -= st[d]! * idx[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** How an input relates to the output: same layout, a single value, or general broadcast. */
export function layoutOf(inShape: Shape, outShape: Shape): 'same' | 'scalar' | 'general' {
  const n = inShape.reduce((a, b) => a * b, 1);
  if (n === 1) return 'scalar';
  if (inShape.length <= outShape.length) {
    const lead = outShape.length - inShape.length;
    let same = true;
    for (let i = 0; i < inShape.length; i++) if (inShape[i] !== outShape[lead + i]) same = false;
    if (same && outShape.slice(0, lead).every((d) => d === 1)) return 'same';
  }
  return 'general';
}

export { stridesOf };
