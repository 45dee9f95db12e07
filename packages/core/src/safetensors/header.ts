/**
 * The safetensors header: 8-byte little-endian u64 N, then N bytes of JSON
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}, then the
 * data section. Offsets are relative to the data section and must cover it exactly, in order, with
 * no gap or overlap (the format's own validation rule), so a bad file is refused before any read.
 */
import { SafetensorsError, fmtShape } from '../errors.js';
import { DTYPE_BYTES, KNOWN_UNSUPPORTED, isSupportedDType, type SafetensorsDType } from './dtypes.js';

/** One tensor's header entry: name, stored dtype, shape and byte range in the data section. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Byte offsets relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

/** A parsed, validated safetensors header. */
export interface Header {
  /** In file order of their data. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  /** Absolute offset of the data section: 8 + N. */
  readonly dataStart: number;
}

/** The HF implementation refuses headers over 100 MB; so do we, before allocating one. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Reads N from the first 8 bytes and checks it against the file size. */
export function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) throw new SafetensorsError(`truncated file: ${fileSize} bytes, fewer than the 8-byte header length`, file);
  const v = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = v.getUint32(0, true) + v.getUint32(4, true) * 2 ** 32;
  if (n > MAX_HEADER_BYTES) throw new SafetensorsError(`header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`, file);
  if (8 + n > fileSize) throw new SafetensorsError(`header length ${n} runs beyond the end of the file (${fileSize} bytes): truncated or not a safetensors file`, file);
  return n;
}

/** Parses and validates the JSON header; `fileSize` bounds the data section. */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): Header {
  const dataStart = 8 + headerBytes.byteLength;
  const dataSize = fileSize - dataStart;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError('header is not valid UTF-8', file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not JSON (${(e as Error).message})`, file);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError(`header must be a JSON object, got ${Array.isArray(json) ? 'an array' : String(json)}`, file);
  }
  // JSON.parse keeps the last of two equal keys silently; a duplicate tensor name is an error.
  const seen = new Set<string>();
  for (const k of topLevelKeys(text)) {
    if (seen.has(k)) throw new SafetensorsError('duplicate tensor name in header', `${file}: tensor "${k}"`);
    seen.add(k);
  }
  const obj = json as Record<string, unknown>;
  const metadata = parseMetadata(obj.__metadata__, file);
  const list: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(obj)) {
    if (name === '__metadata__') continue;
    list.push(parseEntry(name, entry, `${file}: tensor "${name}"`));
  }
  checkLayout(list, dataSize, file);
  return { tensors: new Map(list.map((t) => [t.name, t])), metadata, dataStart };
}

function parseMetadata(m: unknown, file: string): Record<string, string> {
  if (m === undefined) return {};
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new SafetensorsError('__metadata__ must be an object of strings', file);
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw new SafetensorsError(`__metadata__."${k}" must be a string, got ${JSON.stringify(v)}`, file);
  }
  return { ...(m as Record<string, string>) };
}

function parseEntry(name: string, entry: unknown, where: string): TensorInfo {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new SafetensorsError('entry must be an object {dtype, shape, data_offsets}', where);
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string') throw new SafetensorsError(`dtype must be a string, got ${JSON.stringify(dtype)}`, where);
  if (!isSupportedDType(dtype)) {
    const supported = Object.keys(DTYPE_BYTES).join(', ');
    const kind = KNOWN_UNSUPPORTED.includes(dtype) ? 'unsupported' : 'unknown';
    throw new SafetensorsError(`${kind} dtype "${dtype}" (readable: ${supported})`, where);
  }
  const isNat = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!Array.isArray(shape) || !shape.every(isNat)) throw new SafetensorsError(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`, where);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNat)) {
    throw new SafetensorsError(`data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`, where);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new SafetensorsError(`data_offsets [${begin}, ${end}] end before they begin`, where);
  const elements = shape.reduce((a: number, b: number) => a * b, 1);
  const want = elements * DTYPE_BYTES[dtype];
  if (end - begin !== want) {
    throw new SafetensorsError(`${dtype}${fmtShape(shape)} needs ${want} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`, where);
  }
  return { name, dtype, shape: [...shape], begin, end };
}

/** Every byte of the data section belongs to exactly one tensor, in order (the spec's rule). */
function checkLayout(list: TensorInfo[], dataSize: number, file: string): void {
  const sorted = [...list].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of sorted) {
    const where = `${file}: tensor "${t.name}"`;
    if (t.end > dataSize) {
      throw new SafetensorsError(`data_offsets [${t.begin}, ${t.end}] run past the data section (${dataSize} bytes): file truncated?`, where);
    }
    if (t.begin < at) throw new SafetensorsError(`data_offsets [${t.begin}, ${t.end}] overlap the previous tensor, which ends at ${at}`, where);
    if (t.begin > at) throw new SafetensorsError(`gap: data_offsets begin at ${t.begin} but the previous tensor ends at ${at} (data must be contiguous)`, where);
    at = t.end;
  }
  if (at !== dataSize) throw new SafetensorsError(`data section has ${dataSize} bytes but the tensors cover only ${at} (trailing bytes)`, file);
}

/** The keys of the outermost JSON object in document order, duplicates included. */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(i, j + 1)) as string);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1 && c === '{';
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return keys;
}
