/** Compute dtypes. bf16/f16 exist only as storage formats (safetensors) and are widened to f32. */
export type DType = 'f32' | 'i32';
/** The typed array that holds values of dtype D (Float32Array for f32, Int32Array for i32). */
export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array : Int32Array;
/** Host-side tensor values: a typed array of either compute dtype. */
export type DataArray = Float32Array | Int32Array;

/** A zero-filled typed array of `size` elements for `dtype`. */
export function arrayFor(dtype: DType, size: number): DataArray {
  return dtype === 'f32' ? new Float32Array(size) : new Int32Array(size);
}

/** Bytes per element of a compute dtype (4 for both f32 and i32). */
export function bytesPerElement(_dtype: DType): number {
  return 4;
}
