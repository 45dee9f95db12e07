/**
 * Writing safetensors: header JSON padded with spaces to a multiple of 8 bytes (as the HF
 * implementation does, so the data section starts aligned), tensors stored back to back in the
 * order given.
 */
import { KarakoramError, SafetensorsError, fmtShape } from '../errors.js';
import { sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { DTYPE_BYTES, encodeElements, type SafetensorsDType } from './dtypes.js';
import type { RawTensor } from './reader.js';

/** Bytes already in a safetensors dtype (e.g. FP8 weights, or a tensor copied from another file). */
export interface StoredTensor {
  dtype: SafetensorsDType;
  shape: readonly number[];
  bytes: Uint8Array;
}
/** Anything writeSafetensors can store: a backend Tensor, host values, or already-encoded bytes. */
export type WritableTensor = Tensor | RawTensor | StoredTensor;

/** Options for encodeSafetensors / writeSafetensors. */
export interface WriteOptions {
  /** How float tensors are stored (default F32). Integer tensors are always I32; StoredTensors as they are. */
  dtype?: 'F32' | 'BF16';
  /** The optional __metadata__ (string values only, as the format requires). */
  metadata?: Record<string, string>;
  /** A name for errors. */
  file?: string;
}

const isStored = (t: WritableTensor): t is StoredTensor => 'bytes' in t;
const isTensor = (t: WritableTensor): t is Tensor => (t as Tensor).isTensor === true;

/** Encodes one tensor to its stored bytes and dtype. */
export function encodeTensor(name: string, t: RawTensor | StoredTensor, dtype: 'F32' | 'BF16', file = 'safetensors'): StoredTensor {
  const where = `${file}: tensor "${name}"`;
  if (isStored(t)) {
    const want = sizeOf(t.shape) * (DTYPE_BYTES[t.dtype] ?? NaN);
    if (t.bytes.byteLength !== want) throw new SafetensorsError(`${t.dtype}${fmtShape(t.shape)} needs ${want} bytes, got ${t.bytes.byteLength}`, where);
    return t;
  }
  if (t.data.length !== sizeOf(t.shape)) throw new SafetensorsError(`${t.data.length} values do not fill shape ${fmtShape(t.shape)}`, where);
  const d = t.dtype === 'i32' ? 'I32' : dtype;
  return { dtype: d, shape: t.shape, bytes: encodeElements(d, t.data) };
}

/** Serialises already-encoded tensors (sync; no backend involved). */
export function encodeSafetensors(tensors: ReadonlyMap<string, RawTensor | StoredTensor>, opts: WriteOptions = {}): Uint8Array {
  const file = opts.file ?? 'safetensors';
  const stored = [...tensors].map(([name, t]) => [name, encodeTensor(name, t, opts.dtype ?? 'F32', file)] as const);
  const header: Record<string, unknown> = {};
  if (opts.metadata) {
    for (const [k, v] of Object.entries(opts.metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata "${k}" must be a string, got ${typeof v}`, file);
    }
    header.__metadata__ = opts.metadata;
  }
  let at = 0;
  for (const [name, s] of stored) {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" is reserved and cannot name a tensor', file);
    header[name] = { dtype: s.dtype, shape: s.shape, data_offsets: [at, at + s.bytes.byteLength] };
    at += s.bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + n + at);
  const view = new DataView(out.buffer);
  view.setUint32(0, n % 2 ** 32, true);
  view.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + n);
  let p = 8 + n;
  for (const [, s] of stored) {
    out.set(s.bytes, p);
    p += s.bytes.byteLength;
  }
  return out;
}

/** Reads Tensors from their backend, then serialises everything (floats as opts.dtype, default F32). */
export async function writeSafetensors(tensors: ReadonlyMap<string, WritableTensor>, opts: WriteOptions = {}): Promise<Uint8Array> {
  const plain = new Map<string, RawTensor | StoredTensor>();
  for (const [name, t] of tensors) {
    if (!isTensor(t)) plain.set(name, t);
    else if (t.disposed) throw new KarakoramError('safetensors', `tensor "${name}" was disposed before it was saved`, opts.file);
    else plain.set(name, { dtype: t.dtype, shape: t.shape, data: await t.data() });
  }
  return encodeSafetensors(plain, opts);
}
