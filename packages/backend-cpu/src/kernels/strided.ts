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

/**
 * A broadcast loop nest with size-1 dims dropped and mergeable neighbours merged: `dims` (outer to
 * inner) and, per input, its element stride on each of them (0 where broadcast). Kernels run the
 * innermost dim as a plain typed-array loop and step the outer offsets like an odometer, so no
 * per-element index array is built.
 */
export interface LoopNest {
  dims: number[];
  strides: number[][];
}

export function loopNest(inShapes: readonly Shape[], outShape: Shape): LoopNest {
  const rank = outShape.length;
  const full = inShapes.map((s) => {
    const lead = rank - s.length;
    const st = stridesOf(s);
    return outShape.map((d, i) => (i < lead || s[i - lead] === 1 ? 0 : st[i - lead]!));
  });
  const dims: number[] = [];
  const strides: number[][] = inShapes.map(() => []);
  for (let i = 0; i < rank; i++) {
    const d = outShape[i]!;
    if (d === 1) continue;
    const last = dims.length - 1;
    // Merge into the previous dim when every input walks both as one contiguous run.
    if (last >= 0 && full.every((st, k) => strides[k]![last] === st[i]! * d)) {
      dims[last] = dims[last]! * d;
      full.forEach((st, k) => (strides[k]![last] = st[i]!));
      continue;
    }
    dims.push(d);
    full.forEach((st, k) => strides[k]!.push(st[i]!));
  }
  if (dims.length === 0) {
    dims.push(1);
    strides.forEach((s) => s.push(0));
  }
  return { dims, strides };
}
