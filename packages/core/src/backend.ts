import type { DType, DataArray } from './dtype.js';
import type { RandomKind } from './random.js';
import type { Shape } from './shape.js';

/**
 * The contract between core and a backend. Storage is opaque to core; every primitive receives
 * contiguous row-major inputs described by `TensorRef` and returns new storage. Shapes are already
 * checked and output shapes already computed by core, so a backend only computes.
 *
 * The required set is small on purpose (about twenty primitives); everything else in core is
 * built from it. `fused` holds optional fast paths whose composite default lives in core.
 */
export interface Storage {
  readonly backend: string;
}

/** A backend's view of a tensor: its storage, shape and dtype (contiguous, row-major). */
export interface TensorRef {
  readonly storage: Storage;
  readonly shape: Shape;
  readonly dtype: DType;
}

/** The elementwise one-input ops every backend implements. */
export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'reciprocal' | 'sin' | 'cos' | 'tanh'
  | 'sigmoid' | 'abs' | 'sign' | 'floor' | 'square';
/** The broadcasting two-input ops every backend implements; comparisons give 1/0. */
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
/** The reductions every backend implements. */
export type ReduceOp = 'sum' | 'max' | 'min';

/** Every UnaryOp, for iterating over them (as the backend conformance suite does). */
export const UNARY_OPS: readonly UnaryOp[] = [
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'abs', 'sign', 'floor', 'square',
];
/** Every BinaryOp, for iterating over them (as the backend conformance suite does). */
export const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];

/** A backend's live storage count and bytes (Backend.memory), for leak checks. */
export interface MemoryInfo {
  /** Live storages owned by the backend. */
  buffers: number;
  bytes: number;
}

/** Optional fused kernels. Each has a composite default in core with the same semantics. */
export interface FusedKernels {
  /** softmax over the last axis. */
  softmax?(x: TensorRef): Storage;
  /** log-softmax over the last axis. */
  logSoftmax?(x: TensorRef): Storage;
  /** x * rsqrt(mean(x^2, last) + eps) * weight */
  rmsNorm?(x: TensorRef, weight: TensorRef, eps: number): Storage;
  /**
   * Accelerators of the gradient rules in core's ops/nn.ts, used by those rules when present
   * (the rules' composite forms stay the definition): softmax: y·(dy - Σ dy·y); log-softmax:
   * dy - exp(y)·Σ dy (sums over the last axis); RMSNorm: dx and the weight's gradient (summed
   * over rows) for y = x·r·w, r = rsqrt(mean(x²) + eps).
   */
  softmaxBackward?(y: TensorRef, dy: TensorRef): Storage;
  /** The log-softmax gradient: dy - exp(y)·Σ dy over the last axis. */
  logSoftmaxBackward?(y: TensorRef, dy: TensorRef): Storage;
  /** RMSNorm's dx and the weight's gradient (summed over rows). */
  rmsNormBackward?(x: TensorRef, weight: TensorRef, eps: number, dy: TensorRef): { dx: Storage; dweight: Storage };
  /**
   * Scaled dot-product attention, softmax over keys, for q [B, H, T, D], k [B, H, S, D],
   * v [B, H, S, Dv] (see ops.attention for the exact semantics; the composite default lives
   * there). Returns out [B, H, T, Dv] and, per row [B, H, T], the max logit over the visible keys
   * and the log-sum-exp of the logits (what the gradient rule needs to rebuild the probabilities
   * without keeping the [B, H, T, S] matrix). undefined: the backend declines this shape (its
   * kernel would be slower than the composite there), and ops.attention runs the composite.
   */
  attention?(q: TensorRef, k: TensorRef, v: TensorRef, opts: FusedAttentionOptions): { out: Storage; rowMax: Storage; lse: Storage } | undefined;
  /**
   * The gradient of `attention` for q, k and v given the output cotangent dOut and the forward's
   * out and lse. Optional even where `attention` is fused: the rule in core then rebuilds it from
   * primitives.
   */
  attentionBackward?(q: TensorRef, k: TensorRef, v: TensorRef, out: TensorRef, lse: TensorRef, dOut: TensorRef, opts: FusedAttentionOptions): { dq: Storage; dk: Storage; dv: Storage };
  /**
   * Muon's Newton-Schulz orthogonalization in f32 of every matrix X of x [..., rows, cols]:
   * X transposed when rows > cols; X = X / (||X||_F + 1e-7); `steps` times A = X·Xᵀ,
   * X = a·X + (b·A + (c·A)·A)·X; transposed back. The composite default (and definition) is
   * newtonSchulz5 in @karakoram/optim-muon; a fused kernel skips its per-op temporaries.
   */
  newtonSchulz?(x: TensorRef, steps: number, coefficients: readonly [number, number, number]): Storage;
}

/** What the fused attention kernels get (checked and resolved by ops.attention). */
export interface FusedAttentionOptions {
  /** Multiplies q·kᵀ. */
  scale: number;
  /** Key j is visible to query i iff j <= i + S - T (the last query sees every key). */
  causal: boolean;
  /** Additive f32 mask [Bm, Hm, T, S] with Bm in {1, B} and Hm in {1, H}, added after scaling. */
  mask?: TensorRef;
}

/** A compute backend: the primitives core builds every op, gradient and layer from (see the module comment above Storage). */
export interface Backend {
  readonly name: string;
  /** What the backend runs on (adapter, tfjs backend, thread count), for logs. */
  describe(): string;

  // -- memory -------------------------------------------------------------------------------
  /** Copies host values into new storage of that dtype. */
  upload(values: DataArray, dtype: DType): Storage;
  /** Reads a tensor's values back to the host. */
  read(ref: TensorRef): Promise<DataArray>;
  /** Synchronous read where the backend can do it (cpu, tfjs-cpu); undefined elsewhere. */
  readSync?(ref: TensorRef): DataArray;
  /** Frees storage; using it afterwards is an error. */
  dispose(storage: Storage): void;
  /** Live storage count and bytes, for leak checks. */
  memory(): MemoryInfo;
  /** Waits for queued work (no-op for synchronous backends). */
  sync?(): Promise<void>;

  // -- creation -----------------------------------------------------------------------------
  /** A tensor of `shape` with every element `value`. */
  fill(shape: Shape, value: number, dtype: DType): Storage;
  /** Counter-based random draw, bit-identical across backends for 'uniform' (see random.ts). */
  random(shape: Shape, kind: RandomKind, seed: number): Storage;

  // -- elementwise --------------------------------------------------------------------------
  /** Elementwise `op(x)`. */
  unary(op: UnaryOp, x: TensorRef): Storage;
  /** Numpy-broadcasting binary op; comparisons give 1/0 in the input dtype. */
  binary(op: BinaryOp, a: TensorRef, b: TensorRef, outShape: Shape): Storage;
  /** cond ? a : b elementwise, all three broadcast to outShape; cond is nonzero-means-true. */
  select(cond: TensorRef, a: TensorRef, b: TensorRef, outShape: Shape): Storage;
  /** x converted to `dtype` (f32 to i32 truncates toward zero). */
  cast(x: TensorRef, dtype: DType): Storage;

  // -- reductions ---------------------------------------------------------------------------
  /** Reduces over sorted unique `axes`; the output keeps rank (reduced dims are 1). */
  reduce(op: ReduceOp, x: TensorRef, axes: readonly number[]): Storage;
  /** k largest along the last axis, sorted descending, ties by lower index first. */
  topk(x: TensorRef, k: number): { values: Storage; indices: Storage };

  // -- linear algebra -----------------------------------------------------------------------
  /**
   * Batched matmul of a [Ba, M, K] (or [Ba, K, M] with transA) and b [Bb, K, N] (or [Bb, N, K]
   * with transB), where Ba and Bb are equal or one of them is 1. Output [max(Ba,Bb), M, N].
   */
  matmul(a: TensorRef, b: TensorRef, transA: boolean, transB: boolean): Storage;

  // -- indexing -----------------------------------------------------------------------------
  /** out = x indexed along `axis` by i32 `indices`: shape x[:axis] + indices.shape + x[axis+1:]. */
  gather(x: TensorRef, indices: TensorRef, axis: number): Storage;
  /**
   * The adjoint of gather: zeros of `outShape` with updates added at the indexed positions
   * along `axis` (duplicates accumulate).
   */
  scatterAdd(outShape: Shape, indices: TensorRef, updates: TensorRef, axis: number): Storage;

  // -- movement -----------------------------------------------------------------------------
  /** Contiguous copy of x with its axes reordered: output axis i is input axis perm[i]. */
  permute(x: TensorRef, perm: readonly number[]): Storage;
  /** Contiguous copy of x[begin[i] : begin[i]+size[i]] on every axis. */
  slice(x: TensorRef, begin: readonly number[], size: readonly number[]): Storage;
  /** Zero padding: `before[i]` and `after[i]` elements on each axis. */
  pad(x: TensorRef, before: readonly number[], after: readonly number[]): Storage;
  /** xs joined along `axis` (every other dimension equal). */
  concat(xs: readonly TensorRef[], axis: number): Storage;
  /** Broadcast x (same rank, dims 1 or equal) to outShape. */
  expand(x: TensorRef, outShape: Shape): Storage;

  fused?: FusedKernels;
}

/** What a backend package exports so the registry can create it. */
export type BackendFactory = (options?: Record<string, unknown>) => Backend | Promise<Backend>;
