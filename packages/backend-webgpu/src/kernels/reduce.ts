/**
 * Reductions over arbitrary axes and top-k along the last axis.
 *
 * reduce: adjacent axes of the same kind (kept or reduced) are merged first, so most reductions
 * become one kept and one reduced axis. Two variants: one invocation per output (many outputs,
 * short reductions), or one workgroup per output with a tree in workgroup memory (few outputs,
 * long reductions).
 *
 * topk: a total order (larger first, NaN largest, ties to the lower index). For small k each row
 * picks its k winners one after another (k passes over the row); for large k every element
 * counts the elements ahead of it, which is its rank, and writes itself there if rank < k.
 */
import type { DType, ReduceOp } from '@karakoram/core';
import { MAX_GROUPS, grid1d, header, main1d, offsets, stridesOf, u, type Program } from '../program.js';

interface Operand {
  buffer: GPUBuffer;
  dtype: DType;
  shape: readonly number[];
}

const RWG = 64;

function init(op: ReduceOp, T: DType): string {
  if (op === 'sum') return T === 'f32' ? '0.0' : '0';
  if (T === 'f32') return op === 'max' ? 'negInf()' : 'posInf()';
  return op === 'max' ? 'i32(-2147483647 - 1)' : '2147483647';
}

function combine(op: ReduceOp, T: DType, acc: string, v: string): string {
  if (op === 'sum') return `${acc} + ${v}`;
  if (T === 'i32') return `${op}(${acc}, ${v})`;
  return op === 'max' ? `select(${acc}, ${v}, ${v} > ${acc} || isNan(${v}))` : `select(${acc}, ${v}, ${v} < ${acc} || isNan(${v}))`;
}

/** Merges adjacent axes of the same kind and drops size-1 axes. */
export function collapse(shape: readonly number[], axes: readonly number[]): { kept: number[]; keptStrides: number[]; red: number[]; redStrides: number[] } {
  const groups: { size: number; reduced: boolean }[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const reduced = axes.includes(i);
    const last = groups[groups.length - 1];
    if (last && last.reduced === reduced) last.size *= d;
    else groups.push({ size: d, reduced });
  });
  const st = stridesOf(groups.map((g) => g.size));
  const r = { kept: [] as number[], keptStrides: [] as number[], red: [] as number[], redStrides: [] as number[] };
  groups.forEach((g, i) => {
    if (g.reduced) {
      r.red.push(g.size);
      r.redStrides.push(st[i]!);
    } else {
      r.kept.push(g.size);
      r.keptStrides.push(st[i]!);
    }
  });
  return r;
}

/** Uniforms: [nOut, redLen, kept shape, kept strides, red shape, red strides]. */
export function reduce(op: ReduceOp, x: Operand, axes: readonly number[], y: GPUBuffer, nOut: number): Program {
  const T = x.dtype;
  const c = collapse(x.shape, axes);
  const nk = c.kept.length;
  const nr = c.red.length;
  const redLen = c.red.reduce((a, b) => a * b, 1);
  const uniforms = [nOut, redLen, ...c.kept, ...c.keptStrides, ...c.red, ...c.redStrides];
  const K0 = 2;
  const R0 = 2 + 2 * nk;
  const wg = redLen >= 256 && nOut <= 16384;
  const redOffset = nr === 1 ? `  let off0 = r * ${u(R0 + 1)};` : offsets('r', nr, R0, [R0 + nr]);
  const base = offsets('o', nk, K0, [K0 + nk]).replaceAll('off0', 'base');
  const key = `reduce:${op}|${T}|k${nk}r${nr}|${wg ? 'wg' : 'th'}`;
  const code = (): string => {
    if (!wg) {
      return [header(uniforms.length, [T], [T]), main1d(u(0), `  let o = i;
${base}
  var acc: ${T} = ${init(op, T)};
  for (var r = 0u; r < ${u(1)}; r = r + 1u) {
${redOffset}
    let v = X0[base + off0];
    acc = ${combine(op, T, 'acc', 'v')};
  }
  Y[o] = acc;`)].join('\n');
    }
    return `${header(uniforms.length, [T], [T])}
var<workgroup> part: array<${T}, ${RWG}>;
@compute @workgroup_size(${RWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = wid.x + wid.y * nwg.x;
  let live = o < ${u(0)};
${base}
  var acc: ${T} = ${init(op, T)};
  if (live) {
    for (var r = lid; r < ${u(1)}; r = r + ${RWG}u) {
${redOffset}
      let v = X0[base + off0];
      acc = ${combine(op, T, 'acc', 'v')};
    }
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${RWG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = ${combine(op, T, 'part[lid]', 'part[lid + s]')}; }
    workgroupBarrier();
  }
  if (live && lid == 0u) { Y[o] = part[0]; }
}`;
  };
  const dispatch: [number, number, number] = wg ? (nOut <= MAX_GROUPS ? [nOut, 1, 1] : [MAX_GROUPS, Math.ceil(nOut / MAX_GROUPS), 1]) : grid1d(nOut);
  return { key, code, inputs: [x], outputs: [{ buffer: y, dtype: T }], uniforms, dispatch };
}

function orderFns(T: DType): string {
  const greater = T === 'f32' ? 'a > b || (isNan(a) && !isNan(b))' : 'a > b';
  return `fn greater(a: ${T}, b: ${T}) -> bool { return ${greater}; }
// (va, ia) comes before (vb, ib): larger value first, ties to the lower index.
fn before(va: ${T}, ia: u32, vb: ${T}, ib: u32) -> bool { return greater(va, vb) || (!greater(vb, va) && ia < ib); }`;
}

/** Uniforms: [rows, n, k]. Outputs values (T) and indices (i32). */
export function topk(x: Operand, k: number, values: GPUBuffer, indices: GPUBuffer): Program {
  const T = x.dtype;
  const n = x.shape[x.shape.length - 1]!;
  const rows = n === 0 ? 0 : x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const uniforms = [rows, n, k];
  const rank = k > 8 && n <= 4096;
  const outputs = [{ buffer: values, dtype: T }, { buffer: indices, dtype: 'i32' as const }];
  const hdr = (): string => `${header(3, [T], [T, 'i32'], { out: ['V', 'I'] })}\n${orderFns(T)}`;
  if (rank) {
    return {
      key: `topk-rank|${T}`,
      code: () => `${hdr()}\n${main1d(`${u(0)} * ${u(1)}`, `  let n = ${u(1)};
  let row = i / n;
  let c = i % n;
  let base = row * n;
  let v = X0[i];
  var rank = 0u;
  for (var j = 0u; j < n; j = j + 1u) {
    if (before(X0[base + j], j, v, c)) { rank = rank + 1u; }
  }
  if (rank < ${u(2)}) { V[row * ${u(2)} + rank] = v; I[row * ${u(2)} + rank] = i32(c); }`)}`,
      inputs: [x],
      outputs,
      uniforms,
      dispatch: grid1d(rows * n),
    };
  }
  return {
    key: `topk-select|${T}`,
    code: () => `${hdr()}\n${main1d(u(0), `  let n = ${u(1)};
  let k = ${u(2)};
  let base = i * n;
  var pv = X0[base];
  var pi = 0u;
  for (var j = 0u; j < k; j = j + 1u) {
    var bv = X0[base];
    var bi = 0xffffffffu;
    for (var c = 0u; c < n; c = c + 1u) {
      let v = X0[base + c];
      if (j > 0u && !before(pv, pi, v, c)) { continue; }
      if (bi == 0xffffffffu || before(v, c, bv, bi)) { bv = v; bi = c; }
    }
    V[i * k + j] = bv;
    I[i * k + j] = i32(bi);
    pv = bv;
    pi = bi;
  }`)}`,
    inputs: [x],
    outputs,
    uniforms,
    dispatch: grid1d(rows),
  };
}
