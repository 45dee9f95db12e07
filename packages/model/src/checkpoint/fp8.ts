/**
 * Block-scaled FP8 weights (DeepSeek-V3 / Kimi K2 checkpoints): an F8_E4M3 matrix W[r, c] comes with
 * `<name>_scale_inv` S[ceil(r/br), ceil(c/bc)] (F32), and the real weight is
 * W[i, j] * S[floor(i/br), floor(j/bc)]. Edge blocks are partial when r or c is not a multiple of
 * the block size.
 */
import { KarakoramError, fmtShape } from '@karakoram/core';

/** Suffix of the tensor holding an FP8 weight's block scales: `<name>_scale_inv`. */
export const SCALE_SUFFIX = '_scale_inv';

/** Shape of the scale grid for a 2-D weight in `block` = [rows, cols] blocks (edge blocks partial). */
export function expectedScaleShape(shape: readonly number[], block: readonly [number, number]): number[] {
  return [Math.ceil(shape[0]! / block[0]), Math.ceil(shape[1]! / block[1])];
}

/** Checks shapes; `where` names the tensor for errors. */
export function checkFp8Pair(shape: readonly number[], scaleShape: readonly number[], block: readonly [number, number], where: string): void {
  if (shape.length !== 2) throw new KarakoramError('fp8', `an FP8 block-scaled weight must be 2-D, got ${fmtShape(shape)}`, where);
  const want = expectedScaleShape(shape, block);
  if (scaleShape.length !== 2 || scaleShape[0] !== want[0] || scaleShape[1] !== want[1]) {
    throw new KarakoramError('fp8', `${SCALE_SUFFIX} has shape ${fmtShape(scaleShape)}, expected ${fmtShape(want)} for ${fmtShape(shape)} in ${block[0]}x${block[1]} blocks`, where);
  }
}

/** Multiplies decoded FP8 values (row-major [rows, cols]) by their block scales, in place. */
export function dequantizeBlocks(values: Float32Array, shape: readonly number[], scales: Float32Array, block: readonly [number, number]): Float32Array {
  const [rows, cols] = shape as [number, number];
  const sCols = Math.ceil(cols / block[1]);
  for (let i = 0; i < rows; i++) {
    const sRow = Math.floor(i / block[0]) * sCols;
    const base = i * cols;
    for (let j = 0; j < cols; j++) values[base + j] = values[base + j]! * scales[sRow + Math.floor(j / block[1])]!;
  }
  return values;
}

/** The block size from config.json's quantization_config.weight_block_size, [128, 128] by default. */
export function blockSizeOf(quantization: Record<string, unknown> | undefined): [number, number] {
  const b = quantization?.weight_block_size;
  if (Array.isArray(b) && b.length === 2 && b.every((x) => Number.isInteger(x) && x > 0)) return [b[0] as number, b[1] as number];
  return [128, 128];
}
