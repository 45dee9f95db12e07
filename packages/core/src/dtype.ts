/** Compute dtypes. bf16/f16 exist only as storage formats (safetensors) and are widened to f32. */
export type DType = 'f32' | 'i32';
export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array : Int32Array;
export type DataArray = Float32Array | Int32Array;

export function arrayFor(dtype: DType, size: number): DataArray {
  return dtype === 'f32' ? new Float32Array(size) : new Int32Array(size);
}

export function bytesPerElement(_dtype: DType): number {
  return 4;
}
