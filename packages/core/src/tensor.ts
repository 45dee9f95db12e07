import type { Backend, TensorRef } from './backend.js';
import type { DType, DataArray } from './dtype.js';
import { engine, StorageRef } from './engine.js';
import { KarakoramError, fmtShape } from './errors.js';
import { sizeOf, stridesOf } from './shape.js';
import type { Node } from './autodiff/tape.js';

const finalizer =
  typeof FinalizationRegistry !== 'undefined'
    ? new FinalizationRegistry<StorageRef>((ref) => {
        // Safety net only: a tensor dropped without dispose() still frees its storage eventually.
        if (ref.refs > 0) ref.release();
      })
    : undefined;

/** A scalar or nested JS arrays of numbers, one nesting level per axis (Tensor.array()). */
export type NestedArray = number | NestedArray[];

/**
 * An n-dimensional array owned by a backend. Memory is explicit: call dispose(), or create
 * tensors inside tidy(). Parameters are tensors that assign() new values in place, keeping their
 * identity (and their name in a Module).
 */
export class Tensor {
  readonly isTensor = true;
  readonly id: number;
  shape: readonly number[];
  readonly dtype: DType;
  readonly backend: Backend;
  /** Set while the tape records: the op that produced this tensor. */
  node: Node | undefined;
  /** Leaves being differentiated are watched; anything computed from them is tracked. */
  watched = false;
  kept = false;
  private storageRef: StorageRef | undefined;
  private readonly token = {};

  constructor(backend: Backend, ref: StorageRef, shape: readonly number[], dtype: DType) {
    this.id = engine.nextId++;
    this.backend = backend;
    this.storageRef = ref;
    this.shape = shape;
    this.dtype = dtype;
    finalizer?.register(this, ref, this.token);
    engine.track(this);
  }

  get size(): number {
    return sizeOf(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get strides(): number[] {
    return stridesOf(this.shape);
  }
  get disposed(): boolean {
    return this.storageRef === undefined;
  }
  get ref(): StorageRef {
    if (!this.storageRef) throw new KarakoramError('disposed', `tensor #${this.id} ${fmtShape(this.shape)} was already disposed`);
    return this.storageRef;
  }
  /** The view backends compute on. */
  get info(): TensorRef {
    return { storage: this.ref.storage, shape: this.shape, dtype: this.dtype };
  }

  /** Releases this tensor's hold on its storage (freed when no view still shares it); idempotent. */
  dispose(): void {
    if (!this.storageRef) return;
    finalizer?.unregister(this.token);
    const r = this.storageRef;
    this.storageRef = undefined;
    r.release();
  }

  /**
   * Replaces this tensor's values with `value`'s (same shape and dtype), keeping its identity.
   * A disposed tensor can be assigned again: that is how state offloaded to host memory (RL's
   * optimizer offload) comes back under the same object its owner holds.
   */
  assign(value: Tensor): this {
    if (value.dtype !== this.dtype || value.shape.length !== this.shape.length || value.shape.some((d, i) => d !== this.shape[i])) {
      throw new KarakoramError('assign', `cannot assign ${value.dtype}${fmtShape(value.shape)} to ${this.dtype}${fmtShape(this.shape)}`);
    }
    if (value.backend !== this.backend) throw new KarakoramError('assign', `cannot assign a ${value.backend.name} tensor to a ${this.backend.name} tensor; move it with toBackend() first`);
    const next = value.ref.retain();
    const old = this.storageRef;
    this.storageRef = next;
    finalizer?.unregister(this.token);
    finalizer?.register(this, next, this.token);
    old?.release();
    return this;
  }

  /** Reads the values back to the host as a flat row-major typed array. */
  async data(): Promise<DataArray> {
    return this.backend.read(this.info);
  }
  /** Synchronous data(); throws on backends without readSync (e.g. webgpu). */
  dataSync(): DataArray {
    if (!this.backend.readSync) {
      throw new KarakoramError('sync-read', `the ${this.backend.name} backend has no synchronous read; use await tensor.data()`);
    }
    return this.backend.readSync(this.info);
  }
  /** Nested JS arrays, for tests and printing. */
  async array(): Promise<NestedArray> {
    return nest(await this.data(), this.shape);
  }
  /** Synchronous array(); throws on backends without readSync. */
  arraySync(): NestedArray {
    return nest(this.dataSync(), this.shape);
  }
  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new KarakoramError('item', `item() needs a tensor of one element, got ${fmtShape(this.shape)}`);
    return (await this.data())[0]!;
  }
  /** A short description: dtype, shape and backend (not the values). */
  toString(): string {
    return `Tensor(${this.dtype}${fmtShape(this.shape)} on ${this.backend.name})`;
  }
}

function nest(data: DataArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return data[0]!;
  const strides = stridesOf(shape);
  const build = (dim: number, offset: number): NestedArray[] => {
    const out: NestedArray[] = [];
    for (let i = 0; i < shape[dim]!; i++) {
      const o = offset + i * strides[dim]!;
      out.push(dim === shape.length - 1 ? data[o]! : build(dim + 1, o));
    }
    return out;
  };
  return build(0, 0);
}

/** Wraps new backend storage as a tensor (used by ops). */
export function wrap(backend: Backend, storage: TensorRef['storage'], shape: readonly number[], dtype: DType): Tensor {
  return new Tensor(backend, new StorageRef(backend, storage), shape, dtype);
}

/** A second tensor over the same storage with another shape (reshape is free). */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  return new Tensor(t.backend, t.ref.retain(), shape, t.dtype);
}
