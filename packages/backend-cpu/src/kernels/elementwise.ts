import type { BinaryOp, DataArray, Shape, UnaryOp } from '@karakoram/core';
import { layoutOf, loopNest } from './strided.js';

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
    else if (op === 'div' && !intDiv) for (let i = 0; i < n; i++) out[i] = a[i]! / b[i]!;
    else for (let i = 0; i < n; i++) out[i] = f(a[i]!, b[i]!);
    return;
  }
  if (la === 'same' && lb === 'scalar') {
    const s = b[0]!;
    if (op === 'mul') for (let i = 0; i < n; i++) out[i] = a[i]! * s;
    else if (op === 'add') for (let i = 0; i < n; i++) out[i] = a[i]! + s;
    else if (op === 'sub') for (let i = 0; i < n; i++) out[i] = a[i]! - s;
    else if (op === 'div' && !intDiv) for (let i = 0; i < n; i++) out[i] = a[i]! / s;
    else for (let i = 0; i < n; i++) out[i] = f(a[i]!, s);
    return;
  }
  if (la === 'scalar' && lb === 'same') {
    const s = a[0]!;
    if (op === 'sub') for (let i = 0; i < n; i++) out[i] = s - b[i]!;
    else if (op === 'mul') for (let i = 0; i < n; i++) out[i] = s * b[i]!;
    else for (let i = 0; i < n; i++) out[i] = f(s, b[i]!);
    return;
  }
  broadcastBinary(op, f, a, aShape, b, bShape, out, outShape);
}

/**
 * The general broadcast case over a loop nest: per output row (innermost dim), one typed-array
 * loop with each input stepping 1 or 0 (broadcast) elements. The hot ops have their own loops
 * (a closure call per element costs several times the arithmetic).
 */
function broadcastBinary(op: BinaryOp, f: (x: number, y: number) => number, a: DataArray, aShape: Shape, b: DataArray, bShape: Shape, out: DataArray, outShape: Shape): void {
  const n = out.length;
  if (n === 0) return;
  const { dims, strides } = loopNest([aShape, bShape], outShape);
  const rank = dims.length;
  const inner = dims[rank - 1]!;
  const ia = strides[0]![rank - 1]!;
  const ib = strides[1]![rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let oa = 0;
  let ob = 0;
  const kind = op === 'add' ? 1 : op === 'sub' ? 2 : op === 'mul' ? 3 : op === 'div' && f === binaryFns.div ? 4 : 0;
  for (let o = 0; o < n; o += inner) {
    if (ia === 1 && ib === 1) {
      if (kind === 1) for (let j = 0; j < inner; j++) out[o + j] = a[oa + j]! + b[ob + j]!;
      else if (kind === 2) for (let j = 0; j < inner; j++) out[o + j] = a[oa + j]! - b[ob + j]!;
      else if (kind === 3) for (let j = 0; j < inner; j++) out[o + j] = a[oa + j]! * b[ob + j]!;
      else if (kind === 4) for (let j = 0; j < inner; j++) out[o + j] = a[oa + j]! / b[ob + j]!;
      else for (let j = 0; j < inner; j++) out[o + j] = f(a[oa + j]!, b[ob + j]!);
    } else if (ib === 0) {
      const y = b[ob]!;
      if (ia === 0) out.fill(f(a[oa]!, y), o, o + inner);
      else if (kind === 1) for (let j = 0; j < inner; j++) out[o + j] = a[oa + j * ia]! + y;
      else if (kind === 2) for (let j = 0; j < inner; j++) out[o + j] = a[oa + j * ia]! - y;
      else if (kind === 3) for (let j = 0; j < inner; j++) out[o + j] = a[oa + j * ia]! * y;
      else if (kind === 4) for (let j = 0; j < inner; j++) out[o + j] = a[oa + j * ia]! / y;
      else for (let j = 0; j < inner; j++) out[o + j] = f(a[oa + j * ia]!, y);
    } else if (ia === 0) {
      const x = a[oa]!;
      if (kind === 1) for (let j = 0; j < inner; j++) out[o + j] = x + b[ob + j * ib]!;
      else if (kind === 2) for (let j = 0; j < inner; j++) out[o + j] = x - b[ob + j * ib]!;
      else if (kind === 3) for (let j = 0; j < inner; j++) out[o + j] = x * b[ob + j * ib]!;
      else if (kind === 4) for (let j = 0; j < inner; j++) out[o + j] = x / b[ob + j * ib]!;
      else for (let j = 0; j < inner; j++) out[o + j] = f(x, b[ob + j * ib]!);
    } else {
      for (let j = 0; j < inner; j++) out[o + j] = f(a[oa + j * ia]!, b[ob + j * ib]!);
    }
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      oa += strides[0]![d]!;
      ob += strides[1]![d]!;
      if (idx[d]! < dims[d]!) break;
      oa -= strides[0]![d]! * idx[d]!;
      ob -= strides[1]![d]! * idx[d]!;
      idx[d] = 0;
    }
  }
}

export function select(c: DataArray, cShape: Shape, a: DataArray, aShape: Shape, b: DataArray, bShape: Shape, out: DataArray, outShape: Shape): void {
  const n = out.length;
  if (n === 0) return;
  const { dims, strides } = loopNest([cShape, aShape, bShape], outShape);
  const rank = dims.length;
  const inner = dims[rank - 1]!;
  const [sc, sa, sb] = strides as [number[], number[], number[]];
  const ic = sc[rank - 1]!;
  const ia = sa[rank - 1]!;
  const ib = sb[rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let oc = 0;
  let oa = 0;
  let ob = 0;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0; j < inner; j++) out[o + j] = c[oc + j * ic] !== 0 ? a[oa + j * ia]! : b[ob + j * ib]!;
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      oc += sc[d]!;
      oa += sa[d]!;
      ob += sb[d]!;
      if (idx[d]! < dims[d]!) break;
      oc -= sc[d]! * idx[d]!;
      oa -= sa[d]! * idx[d]!;
      ob -= sb[d]! * idx[d]!;
      idx[d] = 0;
    }
  }
}

export function expand(x: DataArray, inShape: Shape, out: DataArray, outShape: Shape): void {
  const n = out.length;
  if (n === 0) return;
  const { dims, strides } = loopNest([inShape], outShape);
  const rank = dims.length;
  const inner = dims[rank - 1]!;
  const sx = strides[0]!;
  const ix = sx[rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let ox = 0;
  for (let o = 0; o < n; o += inner) {
    if (ix === 0) out.fill(x[ox]!, o, o + inner);
    else if (ix === 1) out.set(x.subarray(ox, ox + inner), o);
    else for (let j = 0; j < inner; j++) out[o + j] = x[ox + j * ix]!;
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      ox += sx[d]!;
      if (idx[d]! < dims[d]!) break;
      ox -= sx[d]! * idx[d]!;
      idx[d] = 0;
    }
  }
}
