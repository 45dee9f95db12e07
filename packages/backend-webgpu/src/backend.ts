import {
  KarakoramError,
  type Backend, type BinaryOp, type DType, type DataArray, type FusedAttentionOptions, type FusedKernels, type MemoryInfo, type RandomKind,
  type ReduceOp, type Shape, type Storage, type TensorRef, type UnaryOp,
} from '@karakoram/core';
import { adapterName, isSoftwareAdapter, type Acquired } from './device.js';
import { BufferPool, type PoolStats } from './pool.js';
import { sizeOf, type Program } from './program.js';
import * as E from './kernels/elementwise.js';
import * as Mv from './kernels/movement.js';
import * as Rd from './kernels/reduce.js';
import * as I from './kernels/indexing.js';
import * as F from './kernels/fused.js';
import * as A from './kernels/attention.js';
import { random as randomKernel } from './kernels/random.js';
import { matmul as matmulKernel, type MatmulShape, type MatmulVariant } from './kernels/matmul.js';
import { MatmulTuner, type TuneOptions } from './autotune.js';

/** A tensor's storage: one pooled GPUBuffer (its size class may exceed the tensor). */
export class WebGpuStorage implements Storage {
  readonly backend = 'webgpu';
  disposed = false;
  constructor(
    public buffer: GPUBuffer,
    readonly length: number,
    /**
     * The values of a small i32 upload, kept on the host so gather and scatterAdd can check
     * indices before dispatch (a GPU read would be asynchronous). Absent for GPU-computed indices.
     */
    readonly host?: Int32Array,
  ) {}
}

/** memory() on webgpu: live storage plus buffer-pool and pipeline-cache statistics. */
export interface WebGpuMemoryInfo extends MemoryInfo {
  /** Everything the pool holds: live tensors plus free buffers kept for reuse (and uniform/staging buffers). */
  pool: PoolStats;
  /** Compute pipelines compiled so far (one per shader key). */
  pipelines: number;
}

/** Settings of a WebGpuBackend: matmul tuning and command batching. */
export interface WebGpuBackendOptions extends TuneOptions {
  /** Dispatches recorded before the command encoder is submitted (default 64). */
  batchDispatches?: number;
  /**
   * 'auto' (default): fused attention except where it loses to the composite (head dims too big
   * for registers on a software adapter: SwiftShader). 'fused': always the fused kernels.
   */
  attention?: 'auto' | 'fused';
}

const STORAGE_USAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
const UNIFORM_USAGE = 0x40 | 0x08; // UNIFORM | COPY_DST
const STAGING_USAGE = 0x01 | 0x08; // MAP_READ | COPY_DST
const HOST_INDEX_MAX = 1 << 16;

const st = (r: TensorRef): WebGpuStorage => r.storage as WebGpuStorage;
const op = (r: TensorRef) => ({ buffer: st(r).buffer, dtype: r.dtype, shape: r.shape });

function checkHostIndices(opName: string, idx: TensorRef, n: number): void {
  const h = st(idx).host;
  if (!h) return;
  for (let i = 0; i < h.length; i++) {
    const v = h[i]!;
    if (v < 0 || v >= n) throw new KarakoramError('index', `index ${v} is out of range [0, ${n})`, opName);
  }
}

/**
 * Every primitive as generated WGSL compute shaders. Work is recorded into one command encoder
 * and submitted in batches; nothing waits for the GPU except read() and sync().
 */
export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly fused: FusedKernels;
  readonly tuner: MatmulTuner;
  private gpu: GPU | undefined;
  private readonly runtime: string;
  private readonly pool: BufferPool;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private encoder: GPUCommandEncoder | undefined;
  /** One compute pass stays open across dispatches (WebGPU orders their storage accesses). */
  private pass: GPUComputePassEncoder | undefined;
  private pending = 0;
  private readonly pendingUniforms: GPUBuffer[] = [];
  private readonly batch: number;
  private live = 0;
  private liveBytes = 0;
  private destroyed = false;
  private destroying: Promise<void> | undefined;
  private errors = 0;
  private readonly declineSlowAttention: boolean;

  constructor(acq: Acquired, opts: WebGpuBackendOptions = {}) {
    this.device = acq.device;
    this.adapter = acq.adapter;
    this.gpu = acq.gpu;
    this.runtime = acq.runtime;
    this.pool = new BufferPool(this.device);
    this.batch = opts.batchDispatches ?? 64;
    this.declineSlowAttention = (opts.attention ?? 'auto') === 'auto' && isSoftwareAdapter(acq.adapter);
    this.tuner = new MatmulTuner(this, opts);
    this.device.addEventListener('uncapturederror', (e) => {
      // Validation errors are bugs in a kernel; say so loudly, but only the first few times.
      if (this.errors++ < 5) console.error(`[karakoram webgpu] ${(e as GPUUncapturedErrorEvent).error.message}`);
    });
    this.fused = {
      softmax: (x) => this.rowOp('softmax', x),
      logSoftmax: (x) => this.rowOp('logSoftmax', x),
      rmsNorm: (x, w, eps) => this.rowOp('rmsNorm', x, w, eps),
      softmaxBackward: (y, dy) => this.rowOp('softmaxBackward', y, dy),
      logSoftmaxBackward: (y, dy) => this.rowOp('logSoftmaxBackward', y, dy),
      rmsNormBackward: (x, w, eps, dy) => this.rmsNormBackward(x, w, eps, dy),
      newtonSchulz: (x, steps, coefficients) => this.newtonSchulz(x, steps, coefficients),
      attention: (q, k, v, o) => this.attention(q, k, v, o),
      attentionBackward: (q, k, v, out, lse, dOut, o) => this.attentionBackward(q, k, v, out, lse, dOut, o),
    };
  }

  describe(): string {
    const l = this.adapter.limits;
    const sw = isSoftwareAdapter(this.adapter) ? ', software' : '';
    return `webgpu on ${adapterName(this.adapter)} (${this.runtime}${sw}; maxBufferSize ${l.maxBufferSize}, maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}, maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}, maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize}; matmul ${this.tuner.summary()})`;
  }

  /** Adapter information for logs and benchmarks. */
  adapterInfo(): { vendor: string; architecture: string; device: string; description: string; software: boolean; limits: Record<string, number> } {
    const info = (this.adapter as { info?: GPUAdapterInfo }).info;
    const limits: Record<string, number> = {};
    for (const k in this.adapter.limits) limits[k] = (this.adapter.limits as unknown as Record<string, number>)[k]!;
    return { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '', software: isSoftwareAdapter(this.adapter), limits };
  }

  // -- plumbing -----------------------------------------------------------------------------

  private alive(): void {
    if (this.destroyed) throw new KarakoramError('destroyed', 'this webgpu backend was destroyed', 'webgpu');
  }

  private alloc(dtype: DType, n: number, host?: Int32Array): WebGpuStorage {
    this.alive();
    const buffer = this.pool.acquire(n * 4, STORAGE_USAGE);
    this.live++;
    this.liveBytes += buffer.size;
    void dtype;
    return new WebGpuStorage(buffer, n, host);
  }

  private out(dtype: DType, shape: Shape): WebGpuStorage {
    return this.alloc(dtype, sizeOf(shape));
  }

  private enc(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  /** The encoder, with no pass open: for buffer copies. */
  private copyEncoder(): GPUCommandEncoder {
    this.pass?.end();
    this.pass = undefined;
    return this.enc();
  }

  private layout(nIn: number, nOut: number): GPUBindGroupLayout {
    const key = `${nIn}:${nOut}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } }];
      for (let i = 0; i < nIn; i++) entries.push({ binding: 1 + i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } });
      for (let i = 0; i < nOut; i++) entries.push({ binding: 1 + nIn + i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
      l = this.device.createBindGroupLayout({ entries });
      this.layouts.set(key, l);
    }
    return l;
  }

  private pipeline(p: Program): GPUComputePipeline {
    let pl = this.pipelines.get(p.key);
    if (!pl) {
      const module = this.device.createShaderModule({ code: p.code(), label: p.key });
      pl = this.device.createComputePipeline({
        label: p.key,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.layout(p.inputs.length, p.outputs.length)] }),
        compute: { module, entryPoint: 'main' },
      });
      this.pipelines.set(p.key, pl);
    }
    return pl;
  }

  /** Records one dispatch (nothing happens for an empty grid). */
  run(p: Program): void {
    this.alive();
    if (p.dispatch.some((d) => d === 0)) return;
    const words = Math.max(4, Math.ceil(p.uniforms.length / 4) * 4);
    const ub = this.pool.acquire(words * 4, UNIFORM_USAGE);
    const data = new Uint32Array(words);
    data.set(p.uniforms);
    this.device.queue.writeBuffer(ub, 0, data);
    this.pendingUniforms.push(ub);
    const pl = this.pipeline(p);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: ub } }];
    [...p.inputs, ...p.outputs].forEach((b, i) => entries.push({ binding: 1 + i, resource: { buffer: b.buffer } }));
    const bg = this.device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries });
    const pass = (this.pass ??= this.enc().beginComputePass());
    pass.setPipeline(pl);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(p.dispatch[0], p.dispatch[1], p.dispatch[2]);
    if (++this.pending >= this.batch) this.flush();
  }

  /** Submits the recorded work. Uniform buffers go back to the pool once their commands are submitted. */
  flush(): void {
    if (!this.encoder) return;
    this.pass?.end();
    this.pass = undefined;
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
    this.pending = 0;
    for (const b of this.pendingUniforms) this.pool.release(b);
    this.pendingUniforms.length = 0;
    this.pool.trim();
  }

  async sync(): Promise<void> {
    if (this.destroyed) return;
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  // -- memory -------------------------------------------------------------------------------

  upload(values: DataArray, dtype: DType): Storage {
    // A pooled buffer may still be read by recorded commands, and writeBuffer runs before
    // them: submit those first.
    this.flush();
    const host = dtype === 'i32' && values.length <= HOST_INDEX_MAX ? Int32Array.from(values) : undefined;
    const s = this.alloc(dtype, values.length, host);
    if (values.length) {
      const src = dtype === 'f32' ? (values instanceof Float32Array ? values : Float32Array.from(values)) : values instanceof Int32Array ? values : Int32Array.from(values);
      this.device.queue.writeBuffer(s.buffer, 0, src.buffer, src.byteOffset, src.byteLength);
    }
    return s;
  }

  async read(ref: TensorRef): Promise<DataArray> {
    this.alive();
    const n = sizeOf(ref.shape);
    if (n === 0) return ref.dtype === 'f32' ? new Float32Array(0) : new Int32Array(0);
    const bytes = n * 4;
    const staging = this.pool.acquire(bytes, STAGING_USAGE);
    this.copyEncoder().copyBufferToBuffer(st(ref).buffer, 0, staging, 0, bytes);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ, 0, bytes);
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    this.pool.release(staging);
    return ref.dtype === 'f32' ? new Float32Array(copy) : new Int32Array(copy);
  }

  dispose(storage: Storage): void {
    const s = storage as WebGpuStorage;
    if (s.disposed) return;
    s.disposed = true;
    this.live--;
    this.liveBytes -= s.buffer.size;
    // Safe to reuse at once: later commands are recorded after the ones that read it.
    if (!this.destroyed) this.pool.release(s.buffer);
  }

  memory(): WebGpuMemoryInfo {
    return { buffers: this.live, bytes: this.liveBytes, pool: this.pool.stats(), pipelines: this.pipelines.size };
  }

  /**
   * Destroys the device and drops Dawn's GPU object, so that Node can exit. Commands not yet
   * submitted are dropped (nothing can read their results any more); the device itself is
   * destroyed once the GPU has finished what was submitted (tearing SwiftShader down under running
   * work can abort the process). Await the result to know it is gone.
   */
  destroy(): Promise<void> {
    if (this.destroyed) return this.destroying ?? Promise.resolve();
    this.destroyed = true;
    this.pass = undefined;
    this.encoder = undefined;
    this.pendingUniforms.length = 0;
    const device = this.device;
    const done = (): void => {
      this.pool.destroyAll();
      device.destroy();
      this.gpu = undefined;
    };
    this.destroying = device.queue.onSubmittedWorkDone().then(done, done);
    return this.destroying;
  }

  // -- creation -----------------------------------------------------------------------------

  fill(shape: Shape, value: number, dtype: DType): Storage {
    const s = this.out(dtype, shape);
    this.run(E.fill(value, dtype, s.buffer, s.length));
    return s;
  }

  random(shape: Shape, kind: RandomKind, seed: number): Storage {
    const s = this.out('f32', shape);
    this.run(randomKernel(kind, s.length, seed, s.buffer));
    return s;
  }

  // -- elementwise --------------------------------------------------------------------------

  unary(o: UnaryOp, x: TensorRef): Storage {
    const s = this.out(x.dtype, x.shape);
    this.run(E.unary(o, op(x), s.buffer));
    return s;
  }

  binary(o: BinaryOp, a: TensorRef, b: TensorRef, outShape: Shape): Storage {
    const s = this.out(a.dtype, outShape);
    this.run(E.binary(o, op(a), op(b), s.buffer, outShape));
    return s;
  }

  select(cond: TensorRef, a: TensorRef, b: TensorRef, outShape: Shape): Storage {
    const s = this.out(a.dtype, outShape);
    this.run(E.select(op(cond), op(a), op(b), s.buffer, outShape));
    return s;
  }

  cast(x: TensorRef, dtype: DType): Storage {
    const s = this.out(dtype, x.shape);
    this.run(E.cast(op(x), dtype, s.buffer));
    return s;
  }

  // -- reductions ---------------------------------------------------------------------------

  reduce(o: ReduceOp, x: TensorRef, axes: readonly number[]): Storage {
    const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const s = this.out(x.dtype, shape);
    this.run(Rd.reduce(o, op(x), axes, s.buffer, s.length));
    return s;
  }

  topk(x: TensorRef, k: number): { values: Storage; indices: Storage } {
    const shape = [...x.shape.slice(0, -1), k];
    const values = this.out(x.dtype, shape);
    const indices = this.out('i32', shape);
    if (k > 0) this.run(Rd.topk(op(x), k, values.buffer, indices.buffer));
    return { values, indices };
  }

  // -- linear algebra -----------------------------------------------------------------------

  matmul(a: TensorRef, b: TensorRef, transA: boolean, transB: boolean): Storage {
    if (a.dtype !== 'f32') throw new KarakoramError('dtype', 'matmul supports f32 only', 'matmul');
    const [ba, a1, a2] = a.shape as [number, number, number];
    const [bb, b1, b2] = b.shape as [number, number, number];
    const [m, k] = transA ? [a2, a1] : [a1, a2];
    const n = transB ? b1 : b2;
    const batch = Math.max(ba, bb);
    const s = this.out('f32', [batch, m, n]);
    if (s.length === 0) return s;
    const shape: MatmulShape = { batch, m, n, k, transA, transB, aBatch: ba === 1 ? 0 : m * k, bBatch: bb === 1 ? 0 : k * n };
    this.matmulInto(this.tuner.choose(shape), shape, st(a).buffer, st(b).buffer, s.buffer);
    return s;
  }

  /** Records one matmul with a given variant (the tuner and benchmarks call this). */
  matmulInto(variant: MatmulVariant, shape: MatmulShape, a: GPUBuffer, b: GPUBuffer, c: GPUBuffer): void {
    this.run(matmulKernel(variant, shape, a, b, c));
  }

  /** A scratch buffer from the pool, for the tuner (give it back with releaseScratch). */
  scratch(bytes: number): GPUBuffer {
    return this.pool.acquire(bytes, STORAGE_USAGE);
  }
  /** Returns a buffer from scratch() to the pool. */
  releaseScratch(b: GPUBuffer): void {
    this.pool.release(b);
  }

  // -- indexing -----------------------------------------------------------------------------

  gather(x: TensorRef, indices: TensorRef, axis: number): Storage {
    const n = x.shape[axis]!;
    checkHostIndices('gather', indices, n);
    const pre = sizeOf(x.shape.slice(0, axis));
    const post = sizeOf(x.shape.slice(axis + 1));
    const m = sizeOf(indices.shape);
    const s = this.out(x.dtype, [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)]);
    this.run(I.gather(op(x), st(indices).buffer, pre, n, m, post, s.buffer));
    return s;
  }

  scatterAdd(outShape: Shape, indices: TensorRef, updates: TensorRef, axis: number): Storage {
    const n = outShape[axis]!;
    checkHostIndices('scatterAdd', indices, n);
    const pre = sizeOf(outShape.slice(0, axis));
    const post = sizeOf(outShape.slice(axis + 1));
    const m = sizeOf(indices.shape);
    const s = this.out(updates.dtype, outShape);
    if (s.length === 0) return s;
    if (m === 0) {
      this.run(E.fill(0, updates.dtype, s.buffer, s.length));
      return s;
    }
    const head = this.pool.acquire(n * 4, STORAGE_USAGE);
    const next = this.pool.acquire(m * 4, STORAGE_USAGE);
    this.run(E.fill(-1, 'i32', head, n));
    this.run(I.scatterLinks(st(indices).buffer, m, n, head, next));
    this.run(I.scatterSum(updates.dtype, st(updates).buffer, head, next, pre, n, m, post, s.buffer));
    this.pool.release(head);
    this.pool.release(next);
    return s;
  }

  // -- movement -----------------------------------------------------------------------------

  permute(x: TensorRef, perm: readonly number[]): Storage {
    const s = this.out(x.dtype, x.shape);
    this.run(Mv.permute(op(x), perm, s.buffer));
    return s;
  }

  slice(x: TensorRef, begin: readonly number[], size: readonly number[]): Storage {
    const s = this.out(x.dtype, size);
    this.run(Mv.slice(op(x), begin, size, s.buffer));
    return s;
  }

  pad(x: TensorRef, before: readonly number[], after: readonly number[]): Storage {
    const shape = x.shape.map((d, i) => d + before[i]! + after[i]!);
    const s = this.out(x.dtype, shape);
    this.run(Mv.pad(op(x), before, shape, s.buffer));
    return s;
  }

  concat(xs: readonly TensorRef[], axis: number): Storage {
    const shape = [...xs[0]!.shape];
    shape[axis] = xs.reduce((a, t) => a + t.shape[axis]!, 0);
    const s = this.out(xs[0]!.dtype, shape);
    if (s.length === 0) return s;
    const contiguous = sizeOf(shape.slice(0, axis)) === 1;
    const inner = sizeOf(shape.slice(axis + 1));
    let off = 0;
    for (const t of xs) {
      const len = sizeOf(t.shape);
      if (len > 0) {
        if (contiguous) {
          // Each input is one contiguous run of the output: a buffer copy.
          this.alive();
          this.copyEncoder().copyBufferToBuffer(st(t).buffer, 0, s.buffer, off * inner * 4, len * 4);
          if (++this.pending >= this.batch) this.flush();
        } else {
          this.run(Mv.place(op(t), shape, off * inner, s.buffer));
        }
      }
      off += t.shape[axis]!;
    }
    return s;
  }

  expand(x: TensorRef, outShape: Shape): Storage {
    const s = this.out(x.dtype, outShape);
    this.run(E.expand(op(x), s.buffer, outShape));
    return s;
  }

  // -- fused --------------------------------------------------------------------------------

  /** A row op over the last axis of x; `second` is rmsNorm's weight or a gradient's dy. */
  private rowOp(o: F.RowOp, x: TensorRef, second?: TensorRef, eps = 0): Storage {
    const s = this.out('f32', x.shape);
    const n = x.shape.length ? x.shape[x.shape.length - 1]! : 1;
    const rows = n === 0 ? 0 : s.length / n;
    const inputs = second ? [st(x).buffer, st(second).buffer] : [st(x).buffer];
    this.run(F.rowKernel(o, inputs, rows, n, eps, [s.buffer]));
    return s;
  }

  private rmsNormBackward(x: TensorRef, w: TensorRef, eps: number, dy: TensorRef): { dx: Storage; dweight: Storage } {
    const dx = this.out('f32', x.shape);
    const dweight = this.out('f32', w.shape);
    const n = x.shape.length ? x.shape[x.shape.length - 1]! : 1;
    const rows = n === 0 ? 0 : dx.length / n;
    const rstd = this.pool.acquire(rows * 4, STORAGE_USAGE);
    this.run(F.rowKernel('rmsNormBackward', [st(x).buffer, st(w).buffer, st(dy).buffer], rows, n, eps, [dx.buffer, rstd]));
    this.run(F.rmsNormWeightGrad(st(x).buffer, st(dy).buffer, rstd, rows, n, dweight.buffer));
    this.pool.release(rstd);
    return { dx, dweight };
  }

  /**
   * Newton-Schulz (Muon) on a stack of matrices: the normalization one row kernel per matrix, each
   * product one batched matmul, each polynomial step one scaleAdd kernel (the composite takes five
   * elementwise dispatches and as many new buffers per iteration).
   */
  private newtonSchulz(x: TensorRef, steps: number, [a, b, c]: readonly [number, number, number]): Storage {
    const r = x.shape.length;
    const rows = x.shape[r - 2]!, cols = x.shape[r - 1]!;
    const size = sizeOf(x.shape);
    const batch = rows * cols === 0 ? 0 : size / (rows * cols);
    const tall = rows > cols;
    const m = tall ? cols : rows, n = tall ? rows : cols;
    const src = tall ? (this.permute({ ...x, shape: [batch, rows, cols] }, [0, 2, 1]) as WebGpuStorage) : st(x);
    let X = this.out('f32', [size]);
    this.run(F.rowKernel('frobNormalize', [src.buffer], batch, m * n, 1e-7, [X.buffer]));
    if (tall) this.dispose(src);
    const A = this.pool.acquire(Math.max(4, batch * m * m * 4), STORAGE_USAGE);
    const cA = this.pool.acquire(Math.max(4, batch * m * m * 4), STORAGE_USAGE);
    const B = this.pool.acquire(Math.max(4, batch * m * m * 4), STORAGE_USAGE);
    const P = this.pool.acquire(Math.max(4, batch * m * m * 4), STORAGE_USAGE);
    const Y = this.pool.acquire(Math.max(4, size * 4), STORAGE_USAGE);
    const mm = (s: MatmulShape, p: GPUBuffer, q: GPUBuffer, o: GPUBuffer): void => this.matmulInto(this.tuner.choose(s), s, p, q, o);
    for (let i = 0; i < steps && size > 0; i++) {
      mm({ batch, m, n: m, k: n, transA: false, transB: true, aBatch: m * n, bBatch: m * n }, X.buffer, X.buffer, A);
      this.run(F.scaleAdd(A, c, undefined, batch * m * m, cA));
      mm({ batch, m, n: m, k: m, transA: false, transB: false, aBatch: m * m, bBatch: m * m }, cA, A, B);
      this.run(F.scaleAdd(A, b, B, batch * m * m, P));
      mm({ batch, m, n, k: m, transA: false, transB: false, aBatch: m * m, bBatch: m * n }, P, X.buffer, Y);
      const next = this.out('f32', [size]);
      this.run(F.scaleAdd(X.buffer, a, Y, size, next.buffer));
      this.dispose(X);
      X = next;
    }
    for (const buf of [A, cA, B, P, Y]) this.pool.release(buf);
    if (!tall) return X;
    const back = this.permute({ storage: X, shape: [batch, cols, rows], dtype: 'f32' }, [0, 2, 1]);
    this.dispose(X);
    return back;
  }

  private attentionShape(q: TensorRef, k: TensorRef, v: TensorRef, o: FusedAttentionOptions): A.AttentionShape {
    const [B, H, T, D] = q.shape as [number, number, number, number];
    const mask = o.mask ? { mB: o.mask.shape[0]!, mH: o.mask.shape[1]! } : undefined;
    return { B, H, T, S: k.shape[2]!, D, Dv: v.shape[3]!, scale: o.scale, causal: o.causal, mask };
  }

  private attention(q: TensorRef, k: TensorRef, v: TensorRef, o: FusedAttentionOptions): { out: Storage; rowMax: Storage; lse: Storage } | undefined {
    const s = this.attentionShape(q, k, v, o);
    // On a CPU-emulated GPU the looped kernels lose to the composite: decline (see fitsRegisters).
    if (this.declineSlowAttention && !A.fitsRegisters(s)) return undefined;
    const out = this.out('f32', [s.B, s.H, s.T, s.Dv]);
    const rowMax = this.out('f32', [s.B, s.H, s.T]);
    const lse = this.out('f32', [s.B, s.H, s.T]);
    if (rowMax.length > 0) {
      this.run(A.attentionForward(s, st(q).buffer, st(k).buffer, st(v).buffer, o.mask && st(o.mask).buffer, out.buffer, rowMax.buffer, lse.buffer));
    }
    return { out, rowMax, lse };
  }

  private attentionBackward(q: TensorRef, k: TensorRef, v: TensorRef, out: TensorRef, lse: TensorRef, dOut: TensorRef, o: FusedAttentionOptions): { dq: Storage; dk: Storage; dv: Storage } {
    const s = this.attentionShape(q, k, v, o);
    const dq = this.out('f32', q.shape);
    const dk = this.out('f32', k.shape);
    const dv = this.out('f32', v.shape);
    const mask = o.mask && st(o.mask).buffer;
    const rows = s.B * s.H * s.T;
    const delta = this.pool.acquire(rows * 4, STORAGE_USAGE);
    if (rows > 0) this.run(A.attentionBackwardQ(s, st(q).buffer, st(k).buffer, st(v).buffer, st(out).buffer, st(lse).buffer, st(dOut).buffer, mask, dq.buffer, delta));
    if (s.B * s.H * s.S > 0) this.run(A.attentionBackwardKV(s, st(q).buffer, st(k).buffer, st(v).buffer, st(lse).buffer, st(dOut).buffer, delta, mask, dk.buffer, dv.buffer));
    this.pool.release(delta);
    return { dq, dk, dv };
  }
}

export { isSoftwareAdapter };
