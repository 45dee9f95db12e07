import {
  KarakoramError, arrayFor, normalAt, uniformAt, sizeOf,
  type Backend, type BinaryOp, type DType, type DataArray, type MemoryInfo, type RandomKind,
  type FusedAttentionOptions, type FusedKernels, type ReduceOp, type Shape, type Storage, type TensorRef, type UnaryOp,
} from '@karakoram/core';
import * as E from './kernels/elementwise.js';
import * as R from './kernels/reduce.js';
import * as Mv from './kernels/movement.js';
import * as I from './kernels/indexing.js';
import { matmulJs } from './kernels/matmul-js.js';
import * as F from './kernels/fused.js';
import { newtonSchulz } from './kernels/newton-schulz.js';
import { WASM_FROM, type ArithOp, type WasmElementwise } from './wasm/elementwise.js';

/** Storage on the cpu backend: a host typed array, flagged once disposed. */
export class CpuStorage implements Storage {
  readonly backend = 'cpu';
  disposed = false;
  constructor(public data: DataArray) {}
}

/**
 * Row-major matmuls into `c` [batch, m, n] from op(a) [m, k] and op(b) [k, n], op = optional
 * transpose; item i of a starts at i·aStride (default m·k; 0 = every item shares one), of b at i·bStride.
 */
export type MatmulKernel = (a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean, batch?: number, aStride?: number, bStride?: number) => void;

/** Settings of a CpuBackend: the matmul kernel and the describe() text. */
export interface CpuBackendOptions {
  /** Replaces the matmul kernel (the fast WebAssembly one is installed by createCpuBackend). */
  matmul?: MatmulKernel;
  /** SIMD kernels for big f32 arithmetic and log-softmax (installed by createCpuBackend). */
  simd?: WasmElementwise;
  describe?: string;
}

const ARITH = new Set<BinaryOp>(['add', 'sub', 'mul', 'div']);
/** Rows the SIMD log-softmax kernels take: whole f32x4 vectors, and long enough to beat the JS loop. */
const simdRows = (n: number): boolean => n % 4 === 0 && n >= 64;

const POOL_MIN = 1024;
const POOL_MAX_BYTES = 1024 * 1024 * 1024;
const EMPTY = new Float32Array(0);

const data = (r: TensorRef): DataArray => (r.storage as CpuStorage).data;
const f32 = (r: TensorRef): Float32Array => data(r) as Float32Array;

/** Every primitive in TypeScript over typed arrays; matmul goes to a pluggable kernel. */
export class CpuBackend implements Backend {
  readonly name = 'cpu';
  private live = 0;
  private liveBytes = 0;
  private readonly matmulKernel: MatmulKernel;
  private readonly simd: WasmElementwise | undefined;
  private readonly description: string;

  constructor(opts: CpuBackendOptions = {}) {
    this.matmulKernel = opts.matmul ?? matmulJs;
    this.simd = opts.simd;
    this.description = opts.describe ?? 'cpu (JavaScript kernels)';
  }

  describe(): string {
    return this.description;
  }

  /**
   * Freed arrays by dtype and length, reused by later outputs of the same size. A training step
   * allocates the same few hundred shapes every step; without reuse each one is a fresh zeroed
   * typed array and garbage for the collector (profiled: about 15% of a step). Only arrays of
   * POOL_MIN elements and more are kept (small ones are cheap for V8), up to POOL_MAX_BYTES.
   */
  private readonly pool = new Map<string, DataArray[]>();
  private pooledBytes = 0;

  private make(dtype: DType, size: number, zeroed = true): CpuStorage {
    this.live++;
    this.liveBytes += size * 4;
    if (size >= POOL_MIN) {
      const list = this.pool.get(dtype + size);
      const reused = list?.pop();
      if (reused) {
        this.pooledBytes -= reused.byteLength;
        if (zeroed) reused.fill(0);
        return new CpuStorage(reused);
      }
    }
    return new CpuStorage(arrayFor(dtype, size));
  }
  /** A zero-filled output (kernels that write only some elements: fill 0, scatterAdd, pad, concat). */
  private zeros(dtype: DType, shape: Shape): CpuStorage {
    return this.make(dtype, sizeOf(shape), true);
  }
  /** An output every element of which the kernel writes: may hold stale values until then. */
  private out(dtype: DType, shape: Shape): CpuStorage {
    return this.make(dtype, sizeOf(shape), false);
  }

  upload(values: DataArray, dtype: DType): Storage {
    const s = this.make(dtype, values.length, false);
    s.data.set(values);
    return s;
  }
  async read(ref: TensorRef): Promise<DataArray> {
    return this.readSync(ref);
  }
  readSync(ref: TensorRef): DataArray {
    return data(ref).slice();
  }
  dispose(storage: Storage): void {
    const s = storage as CpuStorage;
    if (s.disposed) return;
    s.disposed = true;
    this.live--;
    this.liveBytes -= s.data.byteLength;
    const arr = s.data;
    s.data = EMPTY;
    if (arr.length >= POOL_MIN && this.pooledBytes + arr.byteLength <= POOL_MAX_BYTES) {
      const key = (arr instanceof Float32Array ? 'f32' : 'i32') + arr.length;
      let list = this.pool.get(key);
      if (!list) this.pool.set(key, (list = []));
      list.push(arr);
      this.pooledBytes += arr.byteLength;
    }
  }
  memory(): MemoryInfo {
    return { buffers: this.live, bytes: this.liveBytes };
  }

  fill(shape: Shape, value: number, dtype: DType): Storage {
    const s = this.out(dtype, shape);
    s.data.fill(value);
    return s;
  }
  random(shape: Shape, kind: RandomKind, seed: number): Storage {
    const s = this.out('f32', shape);
    const f = kind === 'uniform' ? uniformAt : normalAt;
    for (let i = 0; i < s.data.length; i++) s.data[i] = f(seed, i);
    return s;
  }

  unary(op: UnaryOp, x: TensorRef): Storage {
    const s = this.out(x.dtype, x.shape);
    if (op === 'sigmoid' && this.simd && x.dtype === 'f32' && s.data.length >= WASM_FROM) {
      this.simd.sigmoid(f32(x), s.data as Float32Array);
      return s;
    }
    E.unary(op, data(x), s.data);
    return s;
  }
  binary(op: BinaryOp, a: TensorRef, b: TensorRef, outShape: Shape): Storage {
    const s = this.out(a.dtype, outShape);
    const n = s.data.length;
    if (this.simd && a.dtype === 'f32' && n >= WASM_FROM && ARITH.has(op)) {
      // Every operand either has the output's size (no broadcast: same layout) or is a scalar.
      const x = f32(a), y = f32(b), o = s.data as Float32Array;
      if (x.length === n && y.length === n) { this.simd.binary(op as ArithOp, x, y, o); return s; }
      if (x.length === n && y.length === 1) { this.simd.binary(op as ArithOp, x, y[0]!, o); return s; }
      if (x.length === 1 && y.length === n) { this.simd.binary(op as ArithOp, y, x[0]!, o, true); return s; }
    }
    E.binary(op, data(a), a.shape, data(b), b.shape, s.data, outShape, a.dtype === 'i32');
    return s;
  }
  select(cond: TensorRef, a: TensorRef, b: TensorRef, outShape: Shape): Storage {
    const s = this.out(a.dtype, outShape);
    E.select(data(cond), cond.shape, data(a), a.shape, data(b), b.shape, s.data, outShape);
    return s;
  }
  cast(x: TensorRef, dtype: DType): Storage {
    const s = this.out(dtype, x.shape);
    const src = data(x);
    if (dtype === 'i32') for (let i = 0; i < src.length; i++) s.data[i] = Math.trunc(src[i]!);
    else s.data.set(src);
    return s;
  }

  reduce(op: ReduceOp, x: TensorRef, axes: readonly number[]): Storage {
    const s = this.out(x.dtype, x.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
    R.reduce(op, data(x), x.shape, axes, s.data);
    return s;
  }
  topk(x: TensorRef, k: number): { values: Storage; indices: Storage } {
    const n = x.shape[x.shape.length - 1]!;
    const shape = [...x.shape.slice(0, -1), k];
    const values = this.out(x.dtype, shape);
    const indices = this.out('i32', shape);
    R.topk(data(x), n, k, values.data, indices.data as Int32Array);
    return { values, indices };
  }

  matmul(a: TensorRef, b: TensorRef, transA: boolean, transB: boolean): Storage {
    const [ba, a1, a2] = a.shape as [number, number, number];
    const [bb, b1, b2] = b.shape as [number, number, number];
    const [m, k] = transA ? [a2, a1] : [a1, a2];
    const n = transB ? b1 : b2;
    const batch = Math.max(ba, bb);
    const s = this.out(a.dtype, [batch, m, n]);
    if (a.dtype === 'i32') throw new KarakoramError('dtype', 'matmul supports f32 only', 'matmul');
    const A = data(a) as Float32Array;
    const B = data(b) as Float32Array;
    const C = s.data as Float32Array;
    this.matmulKernel(A, B, C, m, n, k, transA, transB, batch, ba === 1 ? 0 : m * k, bb === 1 ? 0 : k * n);
    return s;
  }

  gather(x: TensorRef, indices: TensorRef, axis: number): Storage {
    I.checkIndices('gather', data(indices) as Int32Array, x.shape[axis]!);
    const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    const s = this.out(x.dtype, shape);
    I.gather(data(x), x.shape, data(indices) as Int32Array, axis, s.data);
    return s;
  }
  scatterAdd(outShape: Shape, indices: TensorRef, updates: TensorRef, axis: number): Storage {
    I.checkIndices('scatterAdd', data(indices) as Int32Array, outShape[axis]!);
    const s = this.zeros(updates.dtype, outShape);
    I.scatterAdd(outShape, data(indices) as Int32Array, data(updates), axis, s.data);
    return s;
  }

  permute(x: TensorRef, perm: readonly number[]): Storage {
    const s = this.out(x.dtype, x.shape);
    Mv.permute(data(x), x.shape, perm, s.data);
    return s;
  }
  slice(x: TensorRef, begin: readonly number[], size: readonly number[]): Storage {
    const s = this.out(x.dtype, size);
    Mv.slice(data(x), x.shape, begin, size, s.data);
    return s;
  }
  pad(x: TensorRef, before: readonly number[], after: readonly number[]): Storage {
    const shape = x.shape.map((d, i) => d + before[i]! + after[i]!);
    const s = this.zeros(x.dtype, shape);
    Mv.place(data(x), x.shape, s.data, shape, before);
    return s;
  }
  concat(xs: readonly TensorRef[], axis: number): Storage {
    const shape = [...xs[0]!.shape];
    shape[axis] = xs.reduce((a, t) => a + t.shape[axis]!, 0);
    const s = this.out(xs[0]!.dtype, shape);
    let off = 0;
    for (const t of xs) {
      Mv.place(data(t), t.shape, s.data, shape, shape.map((_, i) => (i === axis ? off : 0)));
      off += t.shape[axis]!;
    }
    return s;
  }
  /** Fused kernels: see kernels/fused.ts. Their gradient rules are core's. */
  readonly fused: FusedKernels = {
    softmax: (x) => {
      const s = this.out(x.dtype, x.shape);
      F.softmax(data(x), x.shape[x.shape.length - 1] ?? 1, s.data);
      return s;
    },
    logSoftmax: (x) => {
      const s = this.out(x.dtype, x.shape);
      const n = x.shape[x.shape.length - 1] ?? 1;
      if (this.simd && simdRows(n)) this.simd.logSoftmax(f32(x), n, s.data as Float32Array);
      else F.logSoftmax(data(x), n, s.data);
      return s;
    },
    rmsNorm: (x, w, eps) => {
      const s = this.out(x.dtype, x.shape);
      F.rmsNorm(data(x), data(w), x.shape[x.shape.length - 1] ?? 1, eps, s.data);
      return s;
    },
    softmaxBackward: (y, dy) => {
      const s = this.out(y.dtype, y.shape);
      F.softmaxBackward(data(y), data(dy), y.shape[y.shape.length - 1] ?? 1, s.data);
      return s;
    },
    logSoftmaxBackward: (y, dy) => {
      const s = this.out(y.dtype, y.shape);
      const n = y.shape[y.shape.length - 1] ?? 1;
      if (this.simd && simdRows(n)) this.simd.logSoftmaxBackward(f32(y), f32(dy), n, s.data as Float32Array);
      else F.logSoftmaxBackward(data(y), data(dy), n, s.data);
      return s;
    },
    rmsNormBackward: (x, w, eps, dy) => {
      const dx = this.out(x.dtype, x.shape);
      const dweight = this.out(w.dtype, w.shape);
      F.rmsNormBackward(data(x), data(w), data(dy), x.shape[x.shape.length - 1] ?? 1, eps, dx.data, dweight.data);
      return { dx, dweight };
    },
    attention: (q, k, v, o) => {
      const d = this.attentionDims(q, k, v, o);
      const out = this.out('f32', [d.B, d.H, d.T, d.Dv]);
      const rowMax = this.out('f32', [d.B, d.H, d.T]);
      const lse = this.out('f32', [d.B, d.H, d.T]);
      F.attentionForward(this.matmulKernel, this.simd, d, f32(q), f32(k), f32(v), out.data as Float32Array, rowMax.data as Float32Array, lse.data as Float32Array);
      return { out, rowMax, lse };
    },
    attentionBackward: (q, k, v, _out, lse, dOut, o) => {
      const d = this.attentionDims(q, k, v, o);
      const dq = this.out('f32', q.shape);
      const dk = this.out('f32', k.shape);
      const dv = this.out('f32', v.shape);
      F.attentionBackward(this.matmulKernel, this.simd, d, f32(q), f32(k), f32(v), f32(lse), f32(dOut), dq.data as Float32Array, dk.data as Float32Array, dv.data as Float32Array);
      return { dq, dk, dv };
    },
    newtonSchulz: (x, steps, coefficients) => {
      const r = x.shape.length;
      const rows = x.shape[r - 2]!;
      const cols = x.shape[r - 1]!;
      const s = this.out('f32', x.shape);
      const batch = rows * cols === 0 ? 0 : f32(x).length / (rows * cols);
      newtonSchulz(this.matmulKernel, this.simd, f32(x), batch, rows, cols, steps, coefficients, s.data as Float32Array);
      return s;
    },
  };

  private attentionDims(q: TensorRef, k: TensorRef, v: TensorRef, o: FusedAttentionOptions): F.AttentionDims {
    const [B, H, T, D] = q.shape as [number, number, number, number];
    return {
      B, H, T, D, S: k.shape[2]!, Dv: v.shape[3]!, scale: o.scale, causal: o.causal,
      mask: o.mask ? f32(o.mask) : undefined, mB: o.mask?.shape[0] ?? 1, mH: o.mask?.shape[1] ?? 1,
    };
  }

  expand(x: TensorRef, outShape: Shape): Storage {
    const s = this.out(x.dtype, outShape);
    E.expand(data(x), x.shape, s.data, outShape);
    return s;
  }
}
