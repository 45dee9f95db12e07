/**
 * Fused row kernels over the last axis (Backend.fused): softmax, logSoftmax, rmsNorm. Same math
 * as core's composites. Short rows: one invocation per row. Long rows: one workgroup per row,
 * reductions through a tree in workgroup memory.
 */
import { MAX_GROUPS, f32Bits, grid1d, header, main1d, u, type Program } from '../program.js';

export type RowOp = 'softmax' | 'logSoftmax' | 'rmsNorm';
const RWG = 64;
const NEG_INF = 'negInf()';

/** Per-row body, written once for both variants: `lo`, `step` stride the row. */
function rowBody(op: RowOp, reduce: (what: 'max' | 'sum', v: string) => string): string {
  const loop = (body: string): string => `  for (var c = lo; c < n; c = c + step) { let x = X0[base + c]; ${body} }`;
  if (op === 'rmsNorm') {
    return `  var ss = 0.0;
${loop('ss = ss + x * x;')}
  ss = ${reduce('sum', 'ss')};
  let r = 1.0 / sqrt(ss / f32(n) + bitcast<f32>(${u(2)}));
${loop('Y[base + c] = x * r * X1[c];')}`;
  }
  const write = op === 'softmax' ? 'Y[base + c] = exp(x - m) / s;' : 'Y[base + c] = (x - m) - ls;';
  return `  var m = ${NEG_INF};
${loop('m = select(m, x, x > m);')}
  m = ${reduce('max', 'm')};
  var s = 0.0;
${loop('s = s + exp(x - m);')}
  s = ${reduce('sum', 's')};
  let ls = log(s);
${loop(write)}`;
}

/** Uniforms: [rows, n, eps bits]. Inputs: x (and weight for rmsNorm). */
export function rowKernel(op: RowOp, x: GPUBuffer, weight: GPUBuffer | undefined, rows: number, n: number, eps: number, y: GPUBuffer): Program {
  const wg = n >= 128;
  const ins = weight ? ['f32', 'f32'] : ['f32'];
  const uniforms = [rows, n, f32Bits(eps)];
  const inputs = [{ buffer: x, dtype: 'f32' as const }, ...(weight ? [{ buffer: weight, dtype: 'f32' as const }] : [])];
  const outputs = [{ buffer: y, dtype: 'f32' as const }];
  if (!wg) {
    return {
      key: `row:${op}|th`,
      code: () => [header(3, ins, ['f32']), main1d(u(0), `  let n = ${u(1)}; let base = i * n; let lo = 0u; let step = 1u;\n${rowBody(op, (_w, v) => v)}`)].join('\n'),
      inputs,
      outputs,
      uniforms,
      dispatch: grid1d(rows),
    };
  }
  const reduce = (what: 'max' | 'sum', v: string): string =>
    `treeReduce${what === 'max' ? 'Max' : 'Sum'}(${v}, lid)`;
  const code = (): string => `${header(3, ins, ['f32'])}
var<workgroup> part: array<f32, ${RWG}>;
fn treeReduceMax(v: f32, lid: u32) -> f32 {
  part[lid] = v;
  workgroupBarrier();
  for (var s = ${RWG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = max(part[lid], part[lid + s]); }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}
fn treeReduceSum(v: f32, lid: u32) -> f32 {
  part[lid] = v;
  workgroupBarrier();
  for (var s = ${RWG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = part[lid] + part[lid + s]; }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}
@compute @workgroup_size(${RWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= ${u(0)}) { return; }
  let n = ${u(1)}; let base = row * n; let lo = lid; let step = ${RWG}u;
${rowBody(op, reduce)}
}`;
  return {
    key: `row:${op}|wg`,
    code,
    inputs,
    outputs,
    uniforms,
    dispatch: rows <= MAX_GROUPS ? [rows, 1, 1] : [MAX_GROUPS, Math.ceil(rows / MAX_GROUPS), 1],
  };
}
