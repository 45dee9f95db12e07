/**
 * The WebGPU program abstraction (after tfjs-backend-webgpu's webgpu_program.ts): a shader key
 * that names the pipeline in the cache, WGSL generated only on a cache miss, the buffers it
 * binds, u32 uniforms for shapes and strides, and the dispatch size.
 *
 * Binding layout, the same for every program: @binding(0) the uniforms, then the inputs
 * (read-only storage), then the outputs (read-write storage).
 */
import type { DType } from '@karakoram/core';

export interface Program {
  /** Pipeline cache key: op + dtypes + rank + variant; never sizes (those are uniforms). */
  key: string;
  /** WGSL source; called once per key. */
  code: () => string;
  inputs: readonly { buffer: GPUBuffer; dtype: DType | 'u32' }[];
  outputs: readonly { buffer: GPUBuffer; dtype: DType | 'u32' }[];
  /** u32 words (floats go in as their bits, see f32Bits). */
  uniforms: readonly number[];
  /** Workgroup counts. */
  dispatch: readonly [number, number, number];
}

export const WG = 64;
export const MAX_GROUPS = 65535;

const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);
/** The bits of an f32 (for a u32 uniform read back with bitcast<f32>). */
export function f32Bits(v: number): number {
  f32View[0] = v;
  return u32View[0]!;
}

/** WGSL scalar type of a dtype. */
export const wgslType = (d: DType | 'u32'): string => d;

/** `u(i)`: the WGSL expression of uniform word i. */
export const u = (i: number): string => `U.v[${i >> 2}].${'xyzw'[i & 3]}`;

/** Header: the uniform block (n words) and the buffer bindings (element types: WGSL type names). */
export function header(nUniforms: number, inputs: readonly string[], outputs: readonly string[], names?: { in?: string[]; out?: string[] }): string {
  const vecs = Math.max(1, Math.ceil(nUniforms / 4));
  const lines = [`struct Uniforms { v: array<vec4<u32>, ${vecs}> };`, '@group(0) @binding(0) var<uniform> U: Uniforms;'];
  let b = 1;
  inputs.forEach((d, i) => lines.push(`@group(0) @binding(${b++}) var<storage, read> ${names?.in?.[i] ?? `X${i}`}: array<${d}>;`));
  outputs.forEach((d, i) => lines.push(`@group(0) @binding(${b++}) var<storage, read_write> ${names?.out?.[i] ?? `Y${i === 0 ? '' : i}`}: array<${d}>;`));
  lines.push(
    'fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }',
    // Infinities and NaN through a runtime zero: WGSL rejects them as constant expressions.
    'fn rtZero() -> u32 { return min(U.v[0].x, 0u); }',
    'fn posInf() -> f32 { return bitcast<f32>(0x7f800000u + rtZero()); }',
    'fn negInf() -> f32 { return bitcast<f32>(0xff800000u + rtZero()); }',
    'fn nanF() -> f32 { return bitcast<f32>(0x7fc00000u + rtZero()); }',
  );
  return lines.join('\n');
}

/** Workgroup counts for `n` invocations of workgroup size `wg`, folded into 2D past the limit. */
export function grid1d(n: number, wg = WG): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / wg));
  if (groups <= MAX_GROUPS) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y, 1];
}

/** The flat invocation index for a grid from grid1d (needs `gid` and `nwg` builtins). */
export const flatIndex = (wg = WG): string => `gid.x + gid.y * nwg.x * ${wg}u`;

/** The entry point of a one-invocation-per-element kernel over `count` (a WGSL u32 expression). */
export function main1d(count: string, body: string, wg = WG): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = ${flatIndex(wg)};
  if (i >= ${count}) { return; }
${body}
}`;
}

/**
 * WGSL that turns flat index `idx` over a shape (uniform words at `shapeAt`, `rank` of them) into
 * offsets `off<k>` = sum(coord_d * stride_d) for each stride table in `strideAt`.
 */
export function offsets(idx: string, rank: number, shapeAt: number, strideAt: readonly number[]): string {
  const lines = strideAt.map((_, k) => `  var off${k} = 0u;`);
  if (rank === 0) return lines.join('\n');
  lines.push(`  var rem = ${idx};`);
  for (let d = rank - 1; d >= 0; d--) {
    const dim = u(shapeAt + d);
    lines.push(d > 0 ? `  { let c = rem % ${dim}; rem = rem / ${dim};` : '  { let c = rem;');
    strideAt.forEach((s, k) => lines.push(`    off${k} = off${k} + c * ${u(s + d)};`));
    lines.push('  }');
  }
  return lines.join('\n');
}

/** Row-major strides. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Strides of `shape` read as broadcast to `out` (right-aligned; 0 where broadcast). */
export function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const st = stridesOf(shape);
  const off = out.length - shape.length;
  return out.map((d, i) => {
    const j = i - off;
    if (j < 0) return 0;
    return shape[j] === 1 && d !== 1 ? 0 : st[j]!;
  });
}

export const sizeOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
