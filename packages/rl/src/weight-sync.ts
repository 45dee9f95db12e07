/**
 * The checkpoint engine: after each policy update, the inference side gets the new weights.
 *
 * - SharedWeightSync: trainer and inference engine hold the same model object on one backend, so
 *   the update is already visible: 0 bytes move. sync() proves it by checking that every state
 *   dict entry of the inference model IS the trainer's tensor (object identity, same storage).
 * - BucketedWeightSync: a separate inference model (another instance, another backend, or rollout
 *   workers). The trainer's state dict streams in buckets of about `bucketBytes`: each bucket is
 *   downloaded into one ArrayBuffer (a tensor larger than a bucket gets a bucket of its own), and a
 *   sink applies it (modelSink: upload + Tensor.assign; WorkerPool: postMessage with the buffer
 *   transferred). Bytes and time are reported.
 */
import { KarakoramError, wrap, type Backend, type DType, type Module } from '@karakoram/core';

/** What a weight sync moved and how long it took. */
export interface SyncReport {
  mode: 'shared' | 'bucketed';
  tensors: number;
  /** Bytes copied (0 when shared). */
  bytes: number;
  buckets: number;
  /** Bytes of the model's state dict, for comparison. */
  modelBytes: number;
  seconds: number;
}

/** The checkpoint engine: updates the inference side after each policy update. */
export interface WeightSync {
  /** Brings the inference side up to the trainer's current weights. */
  sync(): Promise<SyncReport>;
}

/** The bytes of a module's state dict (float32). */
export function stateBytes(model: Module): number {
  let n = 0;
  for (const t of model.stateDict().values()) n += 4 * t.size;
  return n;
}

/** Weight sync when trainer and inference share one model object: 0 bytes move. */
export class SharedWeightSync implements WeightSync {
  constructor(readonly trainer: Module, readonly inference: Module) {}

  /** Checks that the inference model holds the trainer's very tensors (nothing to copy) and reports 0 bytes. */
  async sync(): Promise<SyncReport> {
    const t0 = performance.now();
    const a = this.trainer.stateDict();
    const b = this.inference.stateDict();
    for (const [name, t] of a) {
      if (b.get(name) !== t) throw new KarakoramError('weight-sync', `${name} is not shared between the trainer and the inference model; use BucketedWeightSync`, 'SharedWeightSync');
    }
    if (a.size !== b.size) throw new KarakoramError('weight-sync', `the models have ${a.size} and ${b.size} tensors`, 'SharedWeightSync');
    return { mode: 'shared', tensors: a.size, bytes: 0, buckets: 0, modelBytes: stateBytes(this.trainer), seconds: (performance.now() - t0) / 1000 };
  }
}

/** One bucket: tensors packed back to back (4-byte elements) in `buffer`. */
export interface Bucket {
  entries: { name: string; dtype: DType; shape: number[]; offset: number; length: number }[];
  buffer: ArrayBuffer;
}

/** Receives the buckets of a weight sync. */
export interface BucketSink {
  /** Applies one bucket of weights. */
  receive(bucket: Bucket): void | Promise<void>;
  /** After the last bucket of a sync. */
  done?(): void | Promise<void>;
}

/** Streams a module's state dict as buckets of at most bucketBytes (or one oversized tensor). */
export async function* stateBuckets(model: Module, bucketBytes: number): AsyncGenerator<Bucket> {
  let group: [string, import('@karakoram/core').Tensor][] = [];
  let size = 0;
  const flush = async (): Promise<Bucket> => {
    const buffer = new ArrayBuffer(size);
    const entries: Bucket['entries'] = [];
    let offset = 0;
    for (const [name, t] of group) {
      const data = await t.data();
      const view = t.dtype === 'f32' ? new Float32Array(buffer, offset, t.size) : new Int32Array(buffer, offset, t.size);
      view.set(data as never);
      entries.push({ name, dtype: t.dtype, shape: [...t.shape], offset, length: t.size });
      offset += 4 * t.size;
    }
    group = [];
    size = 0;
    return { entries, buffer };
  };
  for (const entry of model.stateDict()) {
    const bytes = 4 * entry[1].size;
    if (group.length && size + bytes > bucketBytes) yield await flush();
    group.push(entry);
    size += bytes;
  }
  if (group.length) yield await flush();
}

/** Uploads a bucket into a model's parameters (same names and shapes) with Tensor.assign. */
export function applyBucket(model: Module, bucket: Bucket, backend?: Backend): void {
  const own = model.stateDict();
  for (const e of bucket.entries) {
    const p = own.get(e.name);
    if (!p) throw new KarakoramError('weight-sync', `unexpected tensor ${e.name}`, 'applyBucket');
    if (p.size !== e.length || p.dtype !== e.dtype) throw new KarakoramError('weight-sync', `${e.name}: got ${e.dtype}[${e.shape}], expected ${p.dtype}[${p.shape}]`, 'applyBucket');
    const data = e.dtype === 'f32' ? new Float32Array(bucket.buffer, e.offset, e.length) : new Int32Array(bucket.buffer, e.offset, e.length);
    const b = backend ?? p.backend;
    // upload may keep the array it is given: hand it a copy, the bucket's buffer may be reused.
    const t = wrap(b, b.upload(data.slice(), e.dtype), [...p.shape], e.dtype);
    p.assign(t);
    t.dispose();
  }
}

/** A sink that writes buckets into `model`'s tensors. */
export function modelSink(model: Module): BucketSink {
  return { receive: (b) => applyBucket(model, b) };
}

/** Weight sync to a separate inference model or workers: the state dict streamed in buckets. */
export class BucketedWeightSync implements WeightSync {
  constructor(readonly trainer: Module, readonly sink: BucketSink, readonly bucketBytes = 4 << 20) {}

  /** Streams the trainer's state dict to the sink in buckets and reports bytes and time. */
  async sync(): Promise<SyncReport> {
    const t0 = performance.now();
    let bytes = 0;
    let buckets = 0;
    let tensors = 0;
    for await (const b of stateBuckets(this.trainer, this.bucketBytes)) {
      bytes += b.buffer.byteLength;
      buckets++;
      tensors += b.entries.length;
      await this.sink.receive(b);
    }
    await this.sink.done?.();
    return { mode: 'bucketed', tensors, bytes, buckets, modelBytes: stateBytes(this.trainer), seconds: (performance.now() - t0) / 1000 };
  }
}
