/**
 * Element formats of the safetensors files this project reads and writes, and their conversion to
 * the compute dtypes. bf16, f16 and f8 exist only on disk: they are widened to f32 on read.
 */

/** Safetensors dtype names (as they appear in the header) that Karakoram reads. */
export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'F8_E4M3';
/** The dtypes Karakoram writes. */
export type SafetensorsWriteDType = 'F32' | 'BF16' | 'I32';

/** Bytes per element of each safetensors dtype Karakoram reads. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
  F8_E4M3: 1,
};

/** Names the spec defines that we recognise but do not read, so the error can say "unsupported" rather than "unknown". */
export const KNOWN_UNSUPPORTED = ['F64', 'I8', 'U8', 'I16', 'U16', 'U32', 'U64', 'BOOL', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64'];

/** Whether a header dtype name is one Karakoram can read. */
export const isSupportedDType = (d: string): d is SafetensorsDType => Object.hasOwn(DTYPE_BYTES, d);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 is the top half of an f32, so widening is a shift. */
export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/**
 * f32 -> bf16 bits with round-to-nearest-even (what PyTorch does), so a value written here and read
 * by torch (or back here) is the same nearest bf16. NaN stays a quiet NaN with its sign.
 */
export function f32ToBf16(value: number): number {
  f32[0] = value;
  const u = u32[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0) return ((u >>> 16) | 0x0040) & 0xffff;
  const lsb = (u >>> 16) & 1;
  return ((u + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits; exponent 0 is subnormal, 31 is inf/NaN. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const man = bits & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man === 0 ? sign * Infinity : NaN;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/**
 * float8 e4m3 "fn" (the one FP8 checkpoints use): 1 sign, 4 exponent (bias 7), 3 mantissa bits, no
 * infinities; only S.1111.111 (0x7f, 0xff) is NaN, so the largest finite value is 1.75 * 2^8 = 448.
 */
export function f8e4m3ToF32(bits: number): number {
  const sign = bits & 0x80 ? -1 : 1;
  const exp = (bits >>> 3) & 0xf;
  const man = bits & 0x7;
  if (exp === 15 && man === 7) return NaN;
  if (exp === 0) return sign * man * 2 ** -9; // subnormal: man/8 * 2^(1-7)
  return sign * (1 + man / 8) * 2 ** (exp - 7);
}

const F8_TABLE = Float32Array.from({ length: 256 }, (_, i) => f8e4m3ToF32(i));
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads `bytes` (stored as `dtype`, little-endian) into a new f32 or i32 array; `where` names the tensor for errors. */
export function decodeElements(dtype: SafetensorsDType, bytes: Uint8Array, onI64Overflow: (index: number, value: bigint) => never): Float32Array | Int32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
    case 'I32': {
      const out = dtype === 'F32' ? new Float32Array(n) : new Int32Array(n);
      // A byte copy into a fresh (aligned) buffer is exact on little-endian hosts; DataView otherwise.
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
      else if (dtype === 'F32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      else for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
      return out;
    }
    case 'F8_E4M3': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = F8_TABLE[bytes[i]!]!;
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = view.getInt32(i * 8, true);
        const hi = view.getInt32(i * 8 + 4, true);
        // Fits in i32 exactly when the high word is the sign extension of the low word.
        if (hi !== lo >> 31) onI64Overflow(i, view.getBigInt64(i * 8, true));
        out[i] = lo;
      }
      return out;
    }
  }
}

/** Encodes f32/i32 values as `dtype` (little-endian). */
export function encodeElements(dtype: SafetensorsWriteDType, data: ArrayLike<number>): Uint8Array {
  const n = data.length;
  const out = new Uint8Array(n * (dtype === 'BF16' ? 2 : 4));
  const view = new DataView(out.buffer);
  if (dtype === 'F32') for (let i = 0; i < n; i++) view.setFloat32(i * 4, data[i]!, true);
  else if (dtype === 'I32') for (let i = 0; i < n; i++) view.setInt32(i * 4, data[i]!, true);
  else for (let i = 0; i < n; i++) view.setUint16(i * 2, f32ToBf16(data[i]!), true);
  return out;
}
