/**
 * Reading safetensors from any byte source: memory, a Blob (browsers), a file (see
 * @karakoram/core/node). Only the header is read up front; each tensor is read when asked for,
 * so a checkpoint far larger than memory can be walked one tensor at a time.
 */
import type { Backend } from '../backend.js';
import { getBackend } from '../engine.js';
import { SafetensorsError } from '../errors.js';
import { Tensor, wrap } from '../tensor.js';
import { decodeElements, type SafetensorsDType } from './dtypes.js';
import { headerLength, parseHeader, type Header, type TensorInfo } from './header.js';

/** Random-access bytes. `read` must return exactly `length` bytes or throw. */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes starting at byte `offset`. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the underlying resource (file handle), if any. */
  close?(): Promise<void>;
}

/** A tensor's values widened to a compute dtype, with no backend involved. */
export interface RawTensor {
  dtype: 'f32' | 'i32';
  shape: readonly number[];
  data: Float32Array | Int32Array;
}

/** A ByteSource over bytes already in memory (reads are zero-copy subarrays). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}

/** A Blob or File (browser file input, fetch().blob()), read by slices. */
export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}

const widened = (d: SafetensorsDType): 'f32' | 'i32' => (d === 'I32' || d === 'I64' ? 'i32' : 'f32');

/** Decodes one tensor's stored bytes; `where` names file and tensor in errors. */
export function decodeTensor(info: TensorInfo, bytes: Uint8Array, file: string): RawTensor {
  const where = `${file}: tensor "${info.name}"`;
  if (bytes.byteLength !== info.end - info.begin) {
    throw new SafetensorsError(`read ${bytes.byteLength} bytes, expected ${info.end - info.begin}: file truncated?`, where);
  }
  const data = decodeElements(info.dtype, bytes, (i, v) => {
    throw new SafetensorsError(`I64 element ${i} = ${v} does not fit in i32 (range -2^31..2^31-1)`, where);
  });
  return { dtype: widened(info.dtype), shape: info.shape, data };
}

/**
 * A safetensors file opened for random access: the header is parsed on open, and each tensor
 * is read from the ByteSource only when asked for. Create with SafetensorsReader.open.
 */
export class SafetensorsReader {
  private constructor(
    readonly source: ByteSource,
    /** A name for errors: the path or URL. */
    readonly file: string,
    private readonly header: Header,
  ) {}

  /** Reads and validates the header of `source`; `file` names it in errors. */
  static async open(source: ByteSource, file = 'safetensors'): Promise<SafetensorsReader> {
    const n = headerLength(source.size >= 8 ? await source.read(0, 8) : new Uint8Array(0), source.size, file);
    return new SafetensorsReader(source, file, parseHeader(await source.read(8, n), source.size, file));
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }
  /** Every tensor's name, dtype, shape and offsets, in data order. */
  get tensors(): ReadonlyMap<string, TensorInfo> {
    return this.header.tensors;
  }
  /** Tensor names in data order. */
  names(): string[] {
    return [...this.header.tensors.keys()];
  }
  /** Whether the file holds a tensor named `name`. */
  has(name: string): boolean {
    return this.header.tensors.has(name);
  }
  /** Name, dtype, shape and offsets of one tensor; throws if there is none by that name. */
  info(name: string): TensorInfo {
    const t = this.header.tensors.get(name);
    if (!t) throw new SafetensorsError(`no tensor named "${name}" (the file has ${this.header.tensors.size})`, this.file);
    return t;
  }

  /** The stored bytes of one tensor, as on disk. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    return this.source.read(this.header.dataStart + t.begin, t.end - t.begin);
  }
  /** One tensor widened to f32 (floats) or i32 (integers), without a backend. */
  async readRaw(name: string): Promise<RawTensor> {
    return decodeTensor(this.info(name), await this.readBytes(name), this.file);
  }
  /** One tensor uploaded to `backend` (the current one by default). */
  async read(name: string, backend: Backend = getBackend()): Promise<Tensor> {
    return toTensor(await this.readRaw(name), backend);
  }
  /** Closes the underlying source, if it can be closed. */
  async close(): Promise<void> {
    await this.source.close?.();
  }
}

/** Uploads a RawTensor to `backend` (the current one by default). */
export function toTensor(raw: RawTensor, backend: Backend = getBackend()): Tensor {
  return wrap(backend, backend.upload(raw.data, raw.dtype), [...raw.shape], raw.dtype);
}

/** Parses a whole in-memory file to raw arrays (no backend needed); validates everything first. */
export function decodeSafetensors(bytes: Uint8Array, file = 'safetensors'): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const n = headerLength(bytes, bytes.byteLength, file);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.byteLength, file);
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of header.tensors) {
    tensors.set(name, decodeTensor(t, bytes.subarray(header.dataStart + t.begin, header.dataStart + t.end), file));
  }
  return { tensors, metadata: { ...header.metadata } };
}

/** Parses a whole in-memory file into tensors on `backend` (the current one by default). */
export function readSafetensors(bytes: Uint8Array, opts: { file?: string; backend?: Backend } = {}): Map<string, Tensor> {
  const { tensors } = decodeSafetensors(bytes, opts.file);
  const backend = opts.backend ?? getBackend();
  return new Map([...tensors].map(([k, raw]) => [k, toTensor(raw, backend)]));
}
