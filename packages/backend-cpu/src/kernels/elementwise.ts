import type { BinaryOp, DataArray, Shape, UnaryOp } from '@karakoram/core';
import { broadcastOffsets, layoutOf } from './strided.js';

const unaryFns: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  reciprocal: (x) => 1 / x,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  abs: Math.abs,
  sign: Math.sign,
  floor: Math.floor,
  square: (x) => x * x,
};

export function unary(op: UnaryOp, x: DataArray, out: DataArray): void {
  const n = x.length;
  switch (op) {
    // The hot ones get their own loops; the rest go through the table.
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]!; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]!); return;
    case 'square': for (let i = 0; i < n; i++) out[i] = x[i]! * x[i]!; return;
    case 'rsqrt': for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[i]!); return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        out[i] = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
      }
      return;
    default: {
      const f = unaryFns[op];
      for (let i = 0; i < n; i++) out[i] = f(x[i]!);
    }
  }
}

const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  max: (a, b) => (a > b || Number.isNaN(a) ? a : b),
  min: (a, b) => (a < b || Number.isNaN(a) ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};

export function binary(op: BinaryOp, a: DataArray, aShape: Shape, b: DataArray, bShape: Shape, out: DataArray, outShape: Shape, intDiv: boolean): void {
  const f = intDiv && op === 'div' ? (x: number, y: number) => Math.trunc(x / y) : binaryFns[op];
  const n = out.length;
  const la = layoutOf(aShape, outShape);
  const lb = layoutOf(bShape, outShape);
  if (la === 'same' && lb === 'same') {
    if (op === 'add') for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
    else if (op === 'mul') for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
    else if (op === 'sub') for (let i = 0; i < n; i++) out[i] = a[i]! - b[i]!;
    else for (let i = 0; i < n; i++) out[i] = f(a[i]!, b[i]!);
    return;
  }
  if (la === 'same' && lb === 'scalar') {
    const s = b[0]!;
    if (op === 'mul') for (let i = 0; i < n; i++) out[i] = a[i]! * s;
    else if (op === 'add') for (let i = 0; i < n; i++) out[i] = a[i]! + s;
    else for (let i = 0; i < n; i++) out[i] = f(a[i]!, s);
    return;
  }
  if (la === 'scalar' && lb === 'same') {
    const s = a[0]!;
    for (let i = 0; i < n; i++) out[i] = f(s, b[i]!);
    return;
  }
  // Row broadcast ([..., n] with [n]) is the common case of bias and gain vectors.
  const inner = bShape.length ? bShape[bShape.length - 1]! : 1;
  if (la === 'same' && bShape.slice(0, -1).every((d) => d === 1) && inner === outShape[outShape.length - 1]) {
    for (let i = 0; i < n; i += inner) for (let j = 0; j < inner; j++) out[i + j] = f(a[i + j]!, b[j]!);
    return;
  }
  const oa = la === 'same' ? null : broadcastOffsets(aShape, outShape);
  const ob = lb === 'same' ? null : broadcastOffsets(bShape, outShape);
  for (let i = 0; i < n; i++) out[i] = f(a[oa ? oa[i]! : i]!, b[ob ? ob[i]! : i]!);
}

export function select(c: DataArray, cShape: Shape, a: DataArray, aShape: Shape, b: DataArray, bShape: Shape, out: DataArray, outShape: Shape): void {
  const oc = layoutOf(cShape, outShape) === 'same' ? null : broadcastOffsets(cShape, outShape);
  const oa = layoutOf(aShape, outShape) === 'same' ? null : broadcastOffsets(aShape, outShape);
  const ob = layoutOf(bShape, outShape) === 'same' ? null : broadcastOffsets(bShape, outShape);
  for (let i = 0; i < out.length; i++) {
    out[i] = c[oc ? oc[i]! : i] !== 0 ? a[oa ? oa[i]! : i]! : b[ob ? ob[i]! : i]!;
  }
}

export function expand(x: DataArray, inShape: Shape, out: DataArray, outShape: Shape): void {
  const o = broadcastOffsets(inShape, outShape);
  for (let i = 0; i < out.length; i++) out[i] = x[o[i]!]!;
}
