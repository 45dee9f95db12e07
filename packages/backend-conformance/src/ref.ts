/**
 * A float64 reference for every primitive and nn op, written independently of any backend:
 * plain JS over Float64Array, one multi-index at a time (slow and obvious on purpose).
 */

export interface Arr {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export const sizeOfShape = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function arr(shape: readonly number[], data: ArrayLike<number>): Arr {
  if (data.length !== sizeOfShape(shape)) throw new Error(`ref: ${data.length} values for shape [${shape.join(', ')}]`);
  return { shape: [...shape], data: Float64Array.from(data) };
}

export const scalar = (v: number): Arr => arr([], [v]);

/** Row-major multi-index of flat position i. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    idx[d] = i % n;
    i = Math.floor(i / n);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * shape[d]! + idx[d]!;
  return f;
}

/** Builds an array of `shape` by calling at(multiIndex) for every element. */
export function build(shape: readonly number[], at: (idx: number[]) => number): Arr {
  const n = sizeOfShape(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = at(unravel(i, shape));
  return { shape: [...shape], data };
}

export const get = (a: Arr, idx: readonly number[]): number => a.data[ravel(idx, a.shape)]!;

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = i - (n - a.length) >= 0 ? a[i - (n - a.length)]! : 1;
    const db = i - (n - b.length) >= 0 ? b[i - (n - b.length)]! : 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`ref: cannot broadcast [${a.join(', ')}] and [${b.join(', ')}]`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** The element of `a` that an output multi-index of a broadcast maps to. */
export function bget(a: Arr, outIdx: readonly number[]): number {
  const lead = outIdx.length - a.shape.length;
  const idx = a.shape.map((d, i) => (d === 1 ? 0 : outIdx[lead + i]!));
  return get(a, idx);
}

export const UNARY: Record<string, (x: number) => number> = {
  neg: (x) => -x,
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  rsqrt: (x) => 1 / Math.sqrt(x),
  reciprocal: (x) => 1 / x,
  sin: (x) => Math.sin(x),
  cos: (x) => Math.cos(x),
  tanh: (x) => Math.tanh(x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  abs: (x) => Math.abs(x),
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  floor: (x) => Math.floor(x),
  square: (x) => x * x,
};

export const BINARY: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(a, b),
  max: (a, b) => (a >= b ? a : b),
  min: (a, b) => (a <= b ? a : b),
  eq: (a, b) => Number(a === b),
  ne: (a, b) => Number(a !== b),
  lt: (a, b) => Number(a < b),
  le: (a, b) => Number(a <= b),
  gt: (a, b) => Number(a > b),
  ge: (a, b) => Number(a >= b),
};

export const unary = (op: string, x: Arr): Arr => ({ shape: [...x.shape], data: x.data.map(UNARY[op]!) });

export function binary(op: string, a: Arr, b: Arr): Arr {
  const f = BINARY[op]!;
  return build(broadcastShape(a.shape, b.shape), (o) => f(bget(a, o), bget(b, o)));
}

export function select(c: Arr, a: Arr, b: Arr): Arr {
  const shape = broadcastShape(broadcastShape(c.shape, a.shape), b.shape);
  return build(shape, (o) => (bget(c, o) !== 0 ? bget(a, o) : bget(b, o)));
}

/** f32 -> i32 truncates toward zero; i32 -> f32 is exact for the values used here. */
export const castToInt = (x: Arr): Arr => ({ shape: [...x.shape], data: x.data.map((v) => (v < 0 ? Math.ceil(v) : Math.floor(v))) });

/** Keeps rank: reduced axes become 1. */
export function reduce(op: 'sum' | 'max' | 'min', x: Arr, axes: readonly number[]): Arr {
  const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = build(shape, () => (op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity));
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape).map((v, d) => (axes.includes(d) ? 0 : v));
    const o = ravel(idx, shape);
    const v = x.data[i]!;
    out.data[o] = op === 'sum' ? out.data[o]! + v : op === 'max' ? Math.max(out.data[o]!, v) : Math.min(out.data[o]!, v);
  }
  return out;
}

export function topk(x: Arr, k: number): { values: Arr; indices: Arr } {
  const n = x.shape[x.shape.length - 1]!;
  const rows = n === 0 ? sizeOfShape(x.shape.slice(0, -1)) : x.data.length / n;
  const shape = [...x.shape.slice(0, -1), k];
  const values = new Float64Array(rows * k);
  const indices = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: n }, (_, j) => j);
    order.sort((p, q) => {
      const vp = x.data[r * n + p]!;
      const vq = x.data[r * n + q]!;
      return vp !== vq ? vq - vp : p - q;
    });
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = order[j]!;
      values[r * k + j] = x.data[r * n + order[j]!]!;
    }
  }
  return { values: { shape, data: values }, indices: { shape, data: indices } };
}

/** Rank-3 batched matmul with transposes and batch broadcast (1 vs B). */
export function matmul3(a: Arr, b: Arr, tA: boolean, tB: boolean): Arr {
  const [ba, a1, a2] = a.shape as [number, number, number];
  const [bb, b1, b2] = b.shape as [number, number, number];
  const m = tA ? a2 : a1;
  const k = tA ? a1 : a2;
  const n = tB ? b1 : b2;
  const batch = Math.max(ba, bb);
  return build([batch, m, n], ([p, i, j]) => {
    const pa = ba === 1 ? 0 : p!;
    const pb = bb === 1 ? 0 : p!;
    let s = 0;
    for (let q = 0; q < k; q++) {
      const av = tA ? get(a, [pa, q, i!]) : get(a, [pa, i!, q]);
      const bv = tB ? get(b, [pb, j!, q]) : get(b, [pb, q, j!]);
      s += av * bv;
    }
    return s;
  });
}

/** numpy-style matmul of rank >= 2 operands with broadcast batch dims. */
export function matmul(a: Arr, b: Arr): Arr {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = a.shape[ra - 2]!;
  const k = a.shape[ra - 1]!;
  const n = b.shape[rb - 1]!;
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batchIdx = (s: readonly number[], bo: readonly number[]): number[] =>
    s.slice(0, -2).map((d, i, ds) => (d === 1 ? 0 : bo[bo.length - ds.length + i]!));
  return build([...batch, m, n], (o) => {
    const bo = o.slice(0, -2);
    const ia = batchIdx(a.shape, bo);
    const ib = batchIdx(b.shape, bo);
    let s = 0;
    for (let q = 0; q < k; q++) s += get(a, [...ia, o[o.length - 2]!, q]) * get(b, [...ib, q, o[o.length - 1]!]);
    return s;
  });
}

export function gather(x: Arr, idx: Arr, axis: number): Arr {
  const ir = idx.shape.length;
  const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
  return build(shape, (o) => {
    const pos = get(idx, o.slice(axis, axis + ir));
    return get(x, [...o.slice(0, axis), pos, ...o.slice(axis + ir)]);
  });
}

export function scatterAdd(shape: readonly number[], idx: Arr, upd: Arr, axis: number): Arr {
  const ir = idx.shape.length;
  const out = build(shape, () => 0);
  for (let i = 0; i < upd.data.length; i++) {
    const u = unravel(i, upd.shape);
    const pos = get(idx, u.slice(axis, axis + ir));
    const o = ravel([...u.slice(0, axis), pos, ...u.slice(axis + ir)], shape);
    out.data[o] = out.data[o]! + upd.data[i]!;
  }
  return out;
}

export function permute(x: Arr, perm: readonly number[]): Arr {
  return build(perm.map((p) => x.shape[p]!), (o) => {
    const src = new Array<number>(perm.length);
    perm.forEach((p, d) => (src[p] = o[d]!));
    return get(x, src);
  });
}

export const slice = (x: Arr, begin: readonly number[], size: readonly number[]): Arr =>
  build(size, (o) => get(x, o.map((v, d) => v + begin[d]!)));

export function pad(x: Arr, before: readonly number[], after: readonly number[]): Arr {
  const shape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  return build(shape, (o) => {
    const src = o.map((v, d) => v - before[d]!);
    return src.every((v, d) => v >= 0 && v < x.shape[d]!) ? get(x, src) : 0;
  });
}

export function concat(xs: readonly Arr[], axis: number): Arr {
  const shape = [...xs[0]!.shape];
  shape[axis] = xs.reduce((s, t) => s + t.shape[axis]!, 0);
  return build(shape, (o) => {
    let p = o[axis]!;
    for (const t of xs) {
      if (p < t.shape[axis]!) return get(t, o.map((v, d) => (d === axis ? p : v)));
      p -= t.shape[axis]!;
    }
    throw new Error('ref concat: out of range');
  });
}

export const expand = (x: Arr, shape: readonly number[]): Arr => build(shape, (o) => bget(x, o));

export const reshape = (x: Arr, shape: readonly number[]): Arr => ({ shape: [...shape], data: x.data });

// -- nn ------------------------------------------------------------------------------------

function rowsOf(x: Arr): { rows: number; n: number } {
  const n = x.shape[x.shape.length - 1]!;
  return { rows: n === 0 ? 0 : x.data.length / n, n };
}

export function logSoftmax(x: Arr): Arr {
  const { rows, n } = rowsOf(x);
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, x.data[r * n + j]!);
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp(x.data[r * n + j]! - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < n; j++) out[r * n + j] = x.data[r * n + j]! - lse;
  }
  return { shape: [...x.shape], data: out };
}

export const softmax = (x: Arr): Arr => unary('exp', logSoftmax(x));

/** log(sum(exp(x))) over one axis. */
export function logSumExp(x: Arr, axis: number, keepDims: boolean): Arr {
  const kept = x.shape.map((d, i) => (i === axis ? 1 : d));
  const m = reduce('max', x, [axis]);
  const out = build(kept, (o) => {
    let s = 0;
    const mv = get(m, o);
    for (let j = 0; j < x.shape[axis]!; j++) s += Math.exp(get(x, o.map((v, d) => (d === axis ? j : v))) - mv);
    return mv + Math.log(s);
  });
  return keepDims ? out : reshape(out, x.shape.filter((_, i) => i !== axis));
}

export function rmsNorm(x: Arr, w: Arr, eps: number): Arr {
  const { rows, n } = rowsOf(x);
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x.data[r * n + j]! ** 2;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let j = 0; j < n; j++) out[r * n + j] = x.data[r * n + j]! * inv * w.data[j]!;
  }
  return { shape: [...x.shape], data: out };
}

/** Mean NLL over positions (weighted by mask, divided by max(sum(mask), 1) when given). */
export function crossEntropy(logits: Arr, targets: Arr, mask?: Arr): Arr {
  const lp = logSoftmax(logits);
  const V = logits.shape[logits.shape.length - 1]!;
  let num = 0;
  let den = 0;
  for (let i = 0; i < targets.data.length; i++) {
    const m = mask ? mask.data[i]! : 1;
    num += -lp.data[i * V + targets.data[i]!]! * m;
    den += m;
  }
  return scalar(mask ? num / Math.max(den, 1) : num / targets.data.length);
}

export const dot = (a: Arr, b: Arr): number => {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i]! * b.data[i]!;
  return s;
};

export const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Scaled dot-product attention of q [B, H, T, D], k [B, H, S, D], v [B, H, S, Dv]: softmax over
 * keys of scale·q·kᵀ + mask (mask [Bm, Hm, T, S] broadcast; causal hides j > i + S - T).
 * Returns out [B, H, T, Dv] and the per-row max logit over visible keys [B, H, T].
 */
export function attention(q: Arr, k: Arr, v: Arr, scale: number, causal: boolean, mask?: Arr): { out: Arr; rowMax: Arr } {
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const S = k.shape[2]!;
  const Dv = v.shape[3]!;
  const out = new Float64Array(B * H * T * Dv);
  const rowMax = new Float64Array(B * H * T);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
    const logits: number[] = [];
    const lim = causal ? i + S - T + 1 : S;
    for (let j = 0; j < lim; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += get(q, [b, h, i, d]) * get(k, [b, h, j, d]);
      s *= scale;
      if (mask) s += get(mask, [mask.shape[0] === 1 ? 0 : b, mask.shape[1] === 1 ? 0 : h, i, j]);
      logits.push(s);
    }
    const m = Math.max(...logits);
    const e = logits.map((x) => Math.exp(x - m));
    const sum = e.reduce((a, x) => a + x, 0);
    const row = (b * H + h) * T + i;
    rowMax[row] = m;
    for (let c = 0; c < Dv; c++) {
      let acc = 0;
      for (let j = 0; j < lim; j++) acc += (e[j]! / sum) * get(v, [b, h, j, c]);
      out[row * Dv + c] = acc;
    }
  }
  return { out: { shape: [B, H, T, Dv], data: out }, rowMax: { shape: [B, H, T], data: rowMax } };
}
