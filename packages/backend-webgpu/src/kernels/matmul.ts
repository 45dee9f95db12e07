/**
 * Batched matmul C[b] = op(A[b]) op(B[b]) with op = transpose or not, batch broadcast (a batch of
 * 1 is reused, via a zero batch stride). Three variants, picked per adapter and shape class by
 * the autotuner in ../autotune.ts:
 *
 * - 'rb4': register-blocked, each invocation computes a 4x4 tile of C from vec4 loads and keeps
 *   everything in registers, no workgroup memory. Needs M, N and K to be multiples of 4. The fast
 *   one on SwiftShader (a CPU), where workgroup barriers are expensive and vec4 is SIMD.
 * - 'rb': the same 4x4 blocking with scalar, bounds-checked loads, for any shape.
 * - 'rb16': the same idea with a 16x8 tile of C per invocation (32 vec4 accumulators) and 8x4
 *   workgroups. Needs M a multiple of 16, N of 8 and K of 4. On SwiftShader the bigger tile
 *   amortizes each load over twice the arithmetic of rb4: measured 1.3-1.8 GFLOP/s at 1024 against
 *   rb4's 0.5-1.1 on the same (busy) machine.
 * - 'tiled': 32x32 tiles of C per workgroup staged through workgroup memory in steps of 16 along
 *   K, 4x4 per invocation: the classic kernel for real GPUs, any shape.
 */
import { header, u, type Program } from '../program.js';

/** The matmul kernels: 'rb16' (16x8 register tiles, shapes in multiples of 16/8/4), 'rb4' (register-blocked, vec4, aligned shapes only), 'rb' (same blocking, any shape), 'tiled' (workgroup tiles). */
export type MatmulVariant = 'rb16' | 'rb4' | 'rb' | 'tiled';

/** One batched matmul as the kernels see it: sizes, transposes and per-operand batch strides. */
export interface MatmulShape {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  /** Elements between batches of A and B (0 for a broadcast batch of 1). */
  aBatch: number;
  bBatch: number;
}

export const aligned = (s: MatmulShape): boolean => s.m % 4 === 0 && s.n % 4 === 0 && s.k % 4 === 0;

/** Shapes rb16 applies to. */
export const fitsRb16 = (s: MatmulShape): boolean => s.m % RB16_TM === 0 && s.n % (RB16_TNV * 4) === 0 && s.k % 4 === 0;

const RB_WG = [8, 8] as const;
const RB16_TM = 16;
const RB16_TNV = 2;
const RB16_WG = [8, 4] as const;

/** Uniform words: [M, N, K, aBatchStride, bBatchStride]. */
function uniformsOf(s: MatmulShape): number[] {
  return [s.m, s.n, s.k, s.aBatch, s.bBatch];
}

function rb4Code(tA: boolean, tB: boolean): string {
  // Subzero (SwiftShader's JIT) optimizes little: uniforms are copied to locals and the load
  // indices advance by increments instead of being recomputed from k.
  // Rows of op(A) as vec4 over k: a0..a3 (row r0+i, depth k..k+3).
  const loadA = tA
    ? `    let t0 = A[ia]; let t1 = A[ia + M4]; let t2 = A[ia + M4x2]; let t3 = A[ia + M4x3];
    ia = ia + M4x4;
    let a0 = vec4<f32>(t0.x, t1.x, t2.x, t3.x); let a1 = vec4<f32>(t0.y, t1.y, t2.y, t3.y);
    let a2 = vec4<f32>(t0.z, t1.z, t2.z, t3.z); let a3 = vec4<f32>(t0.w, t1.w, t2.w, t3.w);`
    : `    let a0 = A[ia]; let a1 = A[ia + K4]; let a2 = A[ia + K4x2]; let a3 = A[ia + K4x3];
    ia = ia + 1u;`;
  const body = tB
    ? `    let b0 = B[ib]; let b1 = B[ib + K4]; let b2 = B[ib + K4x2]; let b3 = B[ib + K4x3];
    ib = ib + 1u;
    acc0 = acc0 + vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
    acc1 = acc1 + vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
    acc2 = acc2 + vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
    acc3 = acc3 + vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));`
    : `    let b0 = B[ib]; let b1 = B[ib + N4]; let b2 = B[ib + N4x2]; let b3 = B[ib + N4x3];
    ib = ib + N4x4;
    acc0 = acc0 + a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
    acc1 = acc1 + a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
    acc2 = acc2 + a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
    acc3 = acc3 + a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;`;
  return `${header(5, ['vec4<f32>', 'vec4<f32>'], ['vec4<f32>'], { in: ['A', 'B'], out: ['C'] })}
@compute @workgroup_size(${RB_WG[0]}, ${RB_WG[1]}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M4 = ${u(0)} / 4u; let N4 = ${u(1)} / 4u; let K4 = ${u(2)} / 4u;
  let tc = gid.x; let tr = gid.y; let batch = gid.z;
  if (tc >= N4 || tr >= M4) { return; }
  let M4x2 = M4 * 2u; let M4x3 = M4 * 3u; let M4x4 = M4 * 4u;
  let N4x2 = N4 * 2u; let N4x3 = N4 * 3u; let N4x4 = N4 * 4u;
  let K4x2 = K4 * 2u; let K4x3 = K4 * 3u;
  let r0 = tr * 4u; let c0 = tc * 4u;
  var ia = batch * (${u(3)} / 4u) + ${tA ? 'tr' : 'r0 * K4'};
  var ib = batch * (${u(4)} / 4u) + ${tB ? 'c0 * K4' : 'tc'};
  var acc0 = vec4<f32>(0.0); var acc1 = vec4<f32>(0.0); var acc2 = vec4<f32>(0.0); var acc3 = vec4<f32>(0.0);
  for (var kq = 0u; kq < K4; kq = kq + 1u) {
${loadA}
${body}
  }
  let cB = batch * M4 * 4u * N4 + r0 * N4 + tc;
  C[cB] = acc0; C[cB + N4] = acc1; C[cB + N4x2] = acc2; C[cB + N4x3] = acc3;
}`;
}

/**
 * 'rb16': per k step of 4, the 16 rows' A values as scalars and the tile's B rows as vec4s, then
 * 16 x 2 x 4 vec4 multiply-adds. Loads follow the transposes: A rows as vec4 over k (N) or
 * columns as vec4 over rows (T); B rows as vec4 over columns (N) or, transposed, vec4 over k per
 * column, regrouped into vec4 over columns.
 */
function rb16Code(tA: boolean, tB: boolean): string {
  const TM = RB16_TM, TNV = RB16_TNV;
  const lines: string[] = [];
  // a(r, kk) as a WGSL expression, after the loads below.
  let aOf: (r: number, kk: number) => string;
  if (!tA) {
    for (let r = 0; r < TM; r++) lines.push(`    let a${r} = A[ia + ${r}u * K4];`);
    lines.push('    ia = ia + 1u;');
    aOf = (r, kk) => `a${r}.${'xyzw'[kk]}`;
  } else {
    for (let kk = 0; kk < 4; kk++) for (let g = 0; g < TM / 4; g++) lines.push(`    let t${kk}_${g} = A[ia + ${kk}u * M4 + ${g}u];`);
    lines.push('    ia = ia + 4u * M4;');
    aOf = (r, kk) => `t${kk}_${r >> 2}.${'xyzw'[r & 3]}`;
  }
  if (!tB) {
    for (let kk = 0; kk < 4; kk++) for (let c = 0; c < TNV; c++) lines.push(`    let b${kk}_${c} = B[ib + ${kk}u * N4 + ${c}u];`);
    lines.push('    ib = ib + 4u * N4;');
  } else {
    for (let c = 0; c < TNV; c++) for (let j = 0; j < 4; j++) lines.push(`    let s${c}_${j} = B[ib + ${c * 4 + j}u * K4];`);
    for (let kk = 0; kk < 4; kk++) for (let c = 0; c < TNV; c++) {
      const comp = 'xyzw'[kk];
      lines.push(`    let b${kk}_${c} = vec4<f32>(s${c}_0.${comp}, s${c}_1.${comp}, s${c}_2.${comp}, s${c}_3.${comp});`);
    }
    lines.push('    ib = ib + 1u;');
  }
  for (let r = 0; r < TM; r++) for (let c = 0; c < TNV; c++) {
    lines.push(`    acc${r}_${c} = acc${r}_${c} + ${[0, 1, 2, 3].map((kk) => `${aOf(r, kk)} * b${kk}_${c}`).join(' + ')};`);
  }
  const accs: string[] = [];
  const stores: string[] = [];
  for (let r = 0; r < TM; r++) for (let c = 0; c < TNV; c++) {
    accs.push(`var acc${r}_${c} = vec4<f32>(0.0);`);
    stores.push(`  C[cB + ${r}u * N4 + ${c}u] = acc${r}_${c};`);
  }
  return `${header(5, ['vec4<f32>', 'vec4<f32>'], ['vec4<f32>'], { in: ['A', 'B'], out: ['C'] })}
@compute @workgroup_size(${RB16_WG[0]}, ${RB16_WG[1]}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M4 = ${u(0)} / 4u; let N4 = ${u(1)} / 4u; let K4 = ${u(2)} / 4u;
  let c4 = gid.x * ${TNV}u; let r0 = gid.y * ${TM}u; let batch = gid.z;
  if (c4 >= N4 || r0 >= ${u(0)}) { return; }
  var ia = batch * (${u(3)} / 4u) + ${tA ? 'r0 / 4u' : 'r0 * K4'};
  var ib = batch * (${u(4)} / 4u) + ${tB ? 'c4 * 4u * K4' : 'c4'};
  ${accs.join(' ')}
  for (var kq = 0u; kq < K4; kq = kq + 1u) {
${lines.join('\n')}
  }
  let cB = batch * M4 * 4u * N4 + r0 * N4 + c4;
${stores.join('\n')}
}`;
}

/** Bounds-checked scalar loads shared by 'rb' and 'tiled'. */
function loaders(tA: boolean, tB: boolean): string {
  const M = u(0), N = u(1), K = u(2);
  return `fn loadA(base: u32, row: u32, k: u32) -> f32 {
  if (row >= ${M} || k >= ${K}) { return 0.0; }
  return A[base + ${tA ? `k * ${M} + row` : `row * ${K} + k`}];
}
fn loadB(base: u32, k: u32, col: u32) -> f32 {
  if (col >= ${N} || k >= ${K}) { return 0.0; }
  return B[base + ${tB ? `col * ${K} + k` : `k * ${N} + col`}];
}
fn store(base: u32, row: u32, col0: u32, v: vec4<f32>) {
  if (row >= ${M}) { return; }
  let o = base + row * ${N} + col0;
  if (col0 + 0u < ${N}) { C[o] = v.x; }
  if (col0 + 1u < ${N}) { C[o + 1u] = v.y; }
  if (col0 + 2u < ${N}) { C[o + 2u] = v.z; }
  if (col0 + 3u < ${N}) { C[o + 3u] = v.w; }
}`;
}

function rbCode(tA: boolean, tB: boolean): string {
  return `${header(5, ['f32', 'f32'], ['f32'], { in: ['A', 'B'], out: ['C'] })}
${loaders(tA, tB)}
@compute @workgroup_size(${RB_WG[0]}, ${RB_WG[1]}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r0 = gid.y * 4u; let c0 = gid.x * 4u; let batch = gid.z;
  if (r0 >= ${u(0)} || c0 >= ${u(1)}) { return; }
  let aB = batch * ${u(3)}; let bB = batch * ${u(4)};
  var acc0 = vec4<f32>(0.0); var acc1 = vec4<f32>(0.0); var acc2 = vec4<f32>(0.0); var acc3 = vec4<f32>(0.0);
  for (var k = 0u; k < ${u(2)}; k = k + 1u) {
    let b = vec4<f32>(loadB(bB, k, c0), loadB(bB, k, c0 + 1u), loadB(bB, k, c0 + 2u), loadB(bB, k, c0 + 3u));
    acc0 = acc0 + loadA(aB, r0, k) * b;
    acc1 = acc1 + loadA(aB, r0 + 1u, k) * b;
    acc2 = acc2 + loadA(aB, r0 + 2u, k) * b;
    acc3 = acc3 + loadA(aB, r0 + 3u, k) * b;
  }
  let cB = batch * ${u(0)} * ${u(1)};
  store(cB, r0, c0, acc0); store(cB, r0 + 1u, c0, acc1); store(cB, r0 + 2u, c0, acc2); store(cB, r0 + 3u, c0, acc3);
}`;
}

function tiledCode(tA: boolean, tB: boolean): string {
  return `${header(5, ['f32', 'f32'], ['f32'], { in: ['A', 'B'], out: ['C'] })}
${loaders(tA, tB)}
var<workgroup> As: array<f32, 512>; // [32 rows][16 k]
var<workgroup> Bs: array<f32, 512>; // [16 k][32 cols]
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tileRow = wid.y * 32u; let tileCol = wid.x * 32u; let batch = wid.z;
  let aB = batch * ${u(3)}; let bB = batch * ${u(4)};
  var acc0 = vec4<f32>(0.0); var acc1 = vec4<f32>(0.0); var acc2 = vec4<f32>(0.0); var acc3 = vec4<f32>(0.0);
  for (var t = 0u; t < ${u(2)}; t = t + 16u) {
    for (var l = 0u; l < 8u; l = l + 1u) {
      let e = li + l * 64u;
      As[e] = loadA(aB, tileRow + e / 16u, t + e % 16u);
      Bs[e] = loadB(bB, t + e / 32u, tileCol + e % 32u);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk = kk + 1u) {
      let bo = kk * 32u + lid.x * 4u;
      let b = vec4<f32>(Bs[bo], Bs[bo + 1u], Bs[bo + 2u], Bs[bo + 3u]);
      let ar = lid.y * 64u + kk;
      acc0 = acc0 + As[ar] * b;
      acc1 = acc1 + As[ar + 16u] * b;
      acc2 = acc2 + As[ar + 32u] * b;
      acc3 = acc3 + As[ar + 48u] * b;
    }
    workgroupBarrier();
  }
  let cB = batch * ${u(0)} * ${u(1)};
  let r0 = tileRow + lid.y * 4u; let c0 = tileCol + lid.x * 4u;
  store(cB, r0, c0, acc0); store(cB, r0 + 1u, c0, acc1); store(cB, r0 + 2u, c0, acc2); store(cB, r0 + 3u, c0, acc3);
}`;
}

export function matmul(variant: MatmulVariant, s: MatmulShape, a: GPUBuffer, b: GPUBuffer, c: GPUBuffer): Program {
  const { transA: tA, transB: tB } = s;
  const code = variant === 'rb16' ? () => rb16Code(tA, tB) : variant === 'rb4' ? () => rb4Code(tA, tB) : variant === 'rb' ? () => rbCode(tA, tB) : () => tiledCode(tA, tB);
  const dispatch: [number, number, number] =
    variant === 'tiled'
      ? [Math.ceil(s.n / 32), Math.ceil(s.m / 32), s.batch]
      : variant === 'rb16'
        ? [Math.ceil(s.n / (4 * RB16_TNV) / RB16_WG[0]), Math.ceil(s.m / RB16_TM / RB16_WG[1]), s.batch]
        : [Math.ceil(s.n / 4 / RB_WG[0]), Math.ceil(s.m / 4 / RB_WG[1]), s.batch];
  return {
    key: `matmul:${variant}|${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`,
    code,
    inputs: [{ buffer: a, dtype: 'f32' }, { buffer: b, dtype: 'f32' }],
    outputs: [{ buffer: c, dtype: 'f32' }],
    uniforms: uniformsOf(s),
    dispatch,
  };
}
