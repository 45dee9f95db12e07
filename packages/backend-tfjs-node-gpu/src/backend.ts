import * as tf from '@tensorflow/tfjs-core';
import {
  KarakoramError, arrayFor, normalAt, sizeOf, uniformAt,
  type Backend, type BinaryOp, type DType, type DataArray, type MemoryInfo, type RandomKind,
  type ReduceOp, type Shape, type Storage, type TensorRef, type UnaryOp,
} from '@karakoram/core';

/** The tfjs backends this package can run on ('tensorflow' is tfjs-node, 'tensorflow-gpu' tfjs-node-gpu). */
export type TfjsBackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Storage is one tf.Tensor, created outside any tf.tidy scope (so it lives until dispose). */
export class TfjsStorage implements Storage {
  readonly backend = 'tfjs-node-gpu';
  constructor(public tensor: tf.Tensor | undefined) {}
}

const TF_DTYPE = { f32: 'float32', i32: 'int32' } as const;

const UNARY: Record<UnaryOp, (x: tf.Tensor) => tf.Tensor> = {
  neg: tf.neg, exp: tf.exp, log: tf.log, sqrt: tf.sqrt, rsqrt: tf.rsqrt, reciprocal: tf.reciprocal,
  sin: tf.sin, cos: tf.cos, tanh: tf.tanh, sigmoid: tf.sigmoid, abs: tf.abs, sign: tf.sign,
  floor: tf.floor, square: tf.square,
};

const BINARY: Record<BinaryOp, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  add: tf.add, sub: tf.sub, mul: tf.mul, div: tf.div, pow: tf.pow, max: tf.maximum, min: tf.minimum,
  eq: tf.equal, ne: tf.notEqual, lt: tf.less, le: tf.lessEqual, gt: tf.greater, ge: tf.greaterEqual,
};

/** Integer division truncating toward zero (tfjs divides int32 with floor). */
function truncDiv(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const q = tf.floorDiv(a, b);
  const r = tf.sub(a, tf.mul(q, b));
  const fix = tf.logicalAnd(tf.notEqual(r, 0), tf.notEqual(tf.less(a, 0), tf.less(b, 0)));
  return tf.add(q, tf.cast(fix, 'int32'));
}

function checkIndices(op: string, idx: ArrayLike<number>, n: number): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (v < 0 || v >= n) throw new KarakoramError('index', `index ${v} is out of range [0, ${n})`, op);
  }
}

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** What a TfjsBackend is constructed with, once createTfjsBackend has started a tfjs backend. */
export interface TfjsBackendInit {
  /** The tfjs backend every op runs on (already initialised with tf.setBackend). */
  tfjsBackend: TfjsBackendName;
  /** The one-line description describe() returns. */
  description: string;
}

/**
 * Every Karakoram primitive over tfjs-core ops. Storage is a tf.Tensor; each op runs in a
 * tf.tidy so tfjs intermediates never outlive it. Gradients are core's (the tape), never tfjs's.
 */
export class TfjsBackend implements Backend {
  readonly name = 'tfjs-node-gpu';
  readonly tfjsBackend: TfjsBackendName;
  private readonly tfName: string;
  private readonly description: string;
  /** Tensors held by live storages: an op that would return one of them returns a clone. */
  private readonly held = new WeakSet<tf.Tensor>();

  constructor(init: TfjsBackendInit) {
    this.tfjsBackend = init.tfjsBackend;
    this.tfName = init.tfjsBackend === 'tensorflow-gpu' ? 'tensorflow' : init.tfjsBackend;
    this.description = init.description;
  }

  describe(): string {
    return this.description;
  }

  /** tfjs has one current backend per process; switch back to ours if someone else changed it. */
  private ensure(): void {
    // setBackend of an initialised backend switches synchronously (the promise only reports).
    if (tf.getBackend() !== this.tfName) void tf.setBackend(this.tfName);
  }

  private store(t: tf.Tensor): TfjsStorage {
    if (this.held.has(t)) t = tf.clone(t);
    this.held.add(t);
    return new TfjsStorage(t);
  }

  /** Runs fn in a tf.tidy and keeps its result as new storage; empty results skip tfjs. */
  private run(shape: Shape, dtype: DType, fn: () => tf.Tensor): Storage {
    this.ensure();
    if (sizeOf(shape) === 0) return this.store(tf.zeros([...shape], TF_DTYPE[dtype]));
    const t = tf.tidy(() => {
      let y = fn();
      if (y.dtype !== TF_DTYPE[dtype]) y = tf.cast(y, TF_DTYPE[dtype]);
      if (!sameShape(y.shape, shape)) y = tf.reshape(y, [...shape]);
      return y;
    });
    return this.store(t);
  }

  /** The input as a tensor of its ref's shape (a reshape shares the data). */
  private t(r: TensorRef): tf.Tensor {
    const s = r.storage as TfjsStorage;
    if (!s.tensor) throw new KarakoramError('disposed', 'storage was already disposed', this.name);
    return sameShape(s.tensor.shape, r.shape) ? s.tensor : tf.reshape(s.tensor, [...r.shape]);
  }

  private host(r: TensorRef): DataArray {
    const s = r.storage as TfjsStorage;
    if (!s.tensor) throw new KarakoramError('disposed', 'storage was already disposed', this.name);
    return s.tensor.dataSync() as DataArray;
  }

  // -- memory -------------------------------------------------------------------------------

  upload(values: DataArray, dtype: DType): Storage {
    this.ensure();
    // A copy: tfjs-backend-cpu would otherwise keep the caller's array as its own storage.
    const v = dtype === 'f32' ? Float32Array.from(values) : Int32Array.from(values);
    return this.store(tf.tensor1d(v, TF_DTYPE[dtype]));
  }

  private copyOut(ref: TensorRef, d: ArrayLike<number>): DataArray {
    const out = arrayFor(ref.dtype, d.length);
    out.set(d);
    return out;
  }

  async read(ref: TensorRef): Promise<DataArray> {
    const s = ref.storage as TfjsStorage;
    if (!s.tensor) throw new KarakoramError('disposed', 'storage was already disposed', this.name);
    return this.copyOut(ref, (await s.tensor.data()) as DataArray);
  }

  readSync(ref: TensorRef): DataArray {
    return this.copyOut(ref, this.host(ref));
  }

  dispose(storage: Storage): void {
    const s = storage as TfjsStorage;
    if (!s.tensor) return;
    s.tensor.dispose();
    s.tensor = undefined;
  }

  /** tfjs's own count: every live tf.Tensor in the process and the bytes of their data. */
  memory(): MemoryInfo {
    const m = tf.memory();
    return { buffers: m.numTensors, bytes: m.numBytes };
  }

  async sync(): Promise<void> {
    await tf.ready();
  }

  // -- creation -----------------------------------------------------------------------------

  fill(shape: Shape, value: number, dtype: DType): Storage {
    return this.run(shape, dtype, () => tf.fill([...shape], value, TF_DTYPE[dtype]));
  }

  random(shape: Shape, kind: RandomKind, seed: number): Storage {
    // Core's counter-based stream, computed on the host: tfjs int32 multiply is not Math.imul
    // (it goes through float products), and uniform draws must be bit-identical everywhere.
    const n = sizeOf(shape);
    const v = new Float32Array(n);
    const f = kind === 'uniform' ? uniformAt : normalAt;
    for (let i = 0; i < n; i++) v[i] = f(seed, i);
    return this.run(shape, 'f32', () => tf.tensor(v, [...shape], 'float32'));
  }

  // -- elementwise --------------------------------------------------------------------------

  unary(op: UnaryOp, x: TensorRef): Storage {
    // i32 results of float functions truncate toward zero (tfjs cast does), as in the cpu backend.
    return this.run(x.shape, x.dtype, () => UNARY[op](this.t(x)));
  }

  binary(op: BinaryOp, a: TensorRef, b: TensorRef, outShape: Shape): Storage {
    return this.run(outShape, a.dtype, () => {
      const ta = this.t(a);
      const tb = this.t(b);
      const y = op === 'div' && a.dtype === 'i32' ? truncDiv(ta, tb) : BINARY[op](ta, tb);
      // Comparisons give bool in tfjs; run() casts to the input dtype (1/0). Broadcast ops whose
      // inputs are smaller than outShape (none here, but be explicit) are expanded.
      return sameShape(y.shape, outShape) ? y : tf.broadcastTo(y, [...outShape]);
    });
  }

  select(cond: TensorRef, a: TensorRef, b: TensorRef, outShape: Shape): Storage {
    return this.run(outShape, a.dtype, () => {
      const to = (t: tf.Tensor) => (sameShape(t.shape, outShape) ? t : tf.broadcastTo(t, [...outShape]));
      return tf.where(to(tf.notEqual(this.t(cond), 0)), to(this.t(a)), to(this.t(b)));
    });
  }

  cast(x: TensorRef, dtype: DType): Storage {
    // f32 -> i32 truncates toward zero in tfjs (Int32Array conversion / static_cast).
    return this.run(x.shape, dtype, () => (x.dtype === dtype ? tf.clone(this.t(x)) : tf.cast(this.t(x), TF_DTYPE[dtype])));
  }

  // -- reductions ---------------------------------------------------------------------------

  reduce(op: ReduceOp, x: TensorRef, axes: readonly number[]): Storage {
    const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return this.run(shape, x.dtype, () => {
      const t = this.t(x);
      if (axes.length === 0) return tf.clone(t);
      // tfjs-backend-wasm returns garbage for reductions over an empty tensor.
      if (sizeOf(x.shape) === 0) return tf.fill(shape, op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity, TF_DTYPE[x.dtype]);
      const f = op === 'sum' ? tf.sum : op === 'max' ? tf.max : tf.min;
      return f(t, [...axes], true);
    });
  }

  topk(x: TensorRef, k: number): { values: Storage; indices: Storage } {
    // tf.topk sorts descending with ties by lower index first (checked by the conformance
    // suite's ties tests on tfjs-cpu and tfjs-wasm), which is the Backend contract.
    const shape = [...x.shape.slice(0, -1), k];
    if (sizeOf(shape) === 0) return { values: this.run(shape, x.dtype, () => tf.zeros([])), indices: this.run(shape, 'i32', () => tf.zeros([])) };
    this.ensure();
    const r = tf.tidy(() => {
      const { values, indices } = tf.topk(this.t(x), k, true);
      return [x.dtype === 'f32' ? values : tf.cast(values, 'int32'), indices] as const;
    });
    return { values: this.store(r[0]), indices: this.store(r[1]) };
  }

  // -- linear algebra -----------------------------------------------------------------------

  matmul(a: TensorRef, b: TensorRef, transA: boolean, transB: boolean): Storage {
    if (a.dtype === 'i32' || b.dtype === 'i32') throw new KarakoramError('dtype', 'matmul supports f32 only', 'matmul');
    const [ba, a1, a2] = a.shape as [number, number, number];
    const [bb, b1, b2] = b.shape as [number, number, number];
    const [m, k] = transA ? [a2, a1] : [a1, a2];
    const n = transB ? b1 : b2;
    const shape = [Math.max(ba, bb), m, n];
    return this.run(shape, 'f32', () => {
      // k = 0 is zeros by definition (tfjs-backend-wasm's XNNPACK refuses it).
      if (k === 0) return tf.zeros(shape);
      // tf.matMul broadcasts a batch of 1 against B (tfjs >= 3).
      return tf.matMul(this.t(a), this.t(b), transA, transB);
    });
  }

  // -- indexing -----------------------------------------------------------------------------

  gather(x: TensorRef, indices: TensorRef, axis: number): Storage {
    // Checked on the host before anything is allocated, so a bad index leaks nothing.
    checkIndices('gather', this.host(indices), x.shape[axis]!);
    const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    return this.run(shape, x.dtype, () => tf.gather(this.t(x), this.t(indices), axis));
  }

  scatterAdd(outShape: Shape, indices: TensorRef, updates: TensorRef, axis: number): Storage {
    checkIndices('scatterAdd', this.host(indices), outShape[axis]!);
    const m = sizeOf(indices.shape);
    return this.run(outShape, updates.dtype, () => {
      if (m === 0) return tf.zeros([...outShape], TF_DTYPE[updates.dtype]);
      const pre = prod(outShape.slice(0, axis));
      const n = outShape[axis]!;
      const post = prod(outShape.slice(axis + 1));
      // Indexed axis first: rows [m, pre*post] scattered into [n, pre*post]. tf.scatterND adds
      // duplicate indices (checked on tfjs-cpu and tfjs-wasm); unsortedSegmentSum would too but
      // tfjs-backend-wasm has no kernel for it.
      let u = tf.reshape(this.t(updates), [pre, m, post]);
      if (pre > 1) u = tf.transpose(u, [1, 0, 2]);
      u = tf.reshape(u, [m, pre * post]);
      const idx = tf.reshape(this.t(indices), [m, 1]);
      let y = tf.scatterND(idx, u, [n, pre * post]);
      if (pre > 1) y = tf.transpose(tf.reshape(y, [n, pre, post]), [1, 0, 2]);
      return y;
    });
  }

  // -- movement -----------------------------------------------------------------------------

  permute(x: TensorRef, perm: readonly number[]): Storage {
    const shape = perm.map((p) => x.shape[p]!);
    return this.run(shape, x.dtype, () => (x.shape.length === 0 ? tf.clone(this.t(x)) : tf.transpose(this.t(x), [...perm])));
  }

  slice(x: TensorRef, begin: readonly number[], size: readonly number[]): Storage {
    return this.run(size, x.dtype, () => (x.shape.length === 0 ? tf.clone(this.t(x)) : tf.slice(this.t(x), [...begin], [...size])));
  }

  pad(x: TensorRef, before: readonly number[], after: readonly number[]): Storage {
    const shape = x.shape.map((d, i) => d + before[i]! + after[i]!);
    return this.run(shape, x.dtype, () => {
      if (x.shape.length === 0) return tf.clone(this.t(x));
      if (sizeOf(x.shape) === 0) return tf.zeros(shape, TF_DTYPE[x.dtype]);
      return tf.pad(this.t(x), before.map((b, i) => [b, after[i]!] as [number, number]));
    });
  }

  concat(xs: readonly TensorRef[], axis: number): Storage {
    const shape = [...xs[0]!.shape];
    shape[axis] = xs.reduce((a, t) => a + t.shape[axis]!, 0);
    return this.run(shape, xs[0]!.dtype, () => {
      const parts = xs.filter((t) => sizeOf(t.shape) > 0).map((t) => this.t(t));
      return parts.length === 1 ? tf.clone(parts[0]!) : tf.concat(parts, axis);
    });
  }

  expand(x: TensorRef, outShape: Shape): Storage {
    return this.run(outShape, x.dtype, () => (sameShape(x.shape, outShape) ? tf.clone(this.t(x)) : tf.broadcastTo(this.t(x), [...outShape])));
  }
}
