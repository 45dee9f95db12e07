/**
 * Fused row kernels over the last axis (Backend.fused): softmax, logSoftmax, rmsNorm and their
 * gradients. Same math as core's composites and gradient rules. Short rows: one invocation per
 * row. Long rows: one workgroup per row, reductions through a tree in workgroup memory.
 * RMSNorm's weight gradient sums over rows: a second kernel, one invocation per column, reads the
 * per-row rsqrt the first one wrote (no float atomics in WGSL).
 */
import { MAX_GROUPS, f32Bits, grid1d, header, main1d, u, type Program } from '../program.js';

/** The row kernels: forward ops and the gradients core's rules accelerate with them. */
export type RowOp = 'softmax' | 'logSoftmax' | 'rmsNorm' | 'softmaxBackward' | 'logSoftmaxBackward' | 'rmsNormBackward' | 'frobNormalize';
const RWG = 64;
const NEG_INF = 'negInf()';

/** Inputs and outputs of each row op (bound in this order; X0 is what `x` reads). */
const ARITY: Record<RowOp, [number, number]> = {
  softmax: [1, 1], logSoftmax: [1, 1], rmsNorm: [2, 1],
  softmaxBackward: [2, 1], logSoftmaxBackward: [2, 1], rmsNormBackward: [3, 2], frobNormalize: [1, 1],
};

/**
 * Per-row body, written once for both variants: `lo`, `step` stride the row, `row` is the row.
 * Bindings: softmax/logSoftmax X0 = x; rmsNorm X0 = x, X1 = w; softmaxBackward/logSoftmaxBackward
 * X0 = y, X1 = dy; rmsNormBackward X0 = x, X1 = w, X2 = dy, Y = dx, Y1 = the row's rsqrt.
 */
function rowBody(op: RowOp, reduce: (what: 'max' | 'sum', v: string) => string): string {
  const loop = (body: string): string => `  for (var c = lo; c < n; c = c + step) { let x = X0[base + c]; ${body} }`;
  const rsqrt = `  var ss = 0.0;
${loop('ss = ss + x * x;')}
  ss = ${reduce('sum', 'ss')};
  let r = 1.0 / sqrt(ss / f32(n) + bitcast<f32>(${u(2)}));`;
  switch (op) {
    case 'rmsNorm':
      return `${rsqrt}
${loop('Y[base + c] = x * r * X1[c];')}`;
    case 'rmsNormBackward':
      // dx = r·(g - xhat·mean(g·xhat)) with g = dy·w, xhat = x·r.
      return `${rsqrt}
  var dt = 0.0;
${loop('dt = dt + X2[base + c] * X1[c] * x;')}
  let mg = ${reduce('sum', 'dt')} * r / f32(n);
${loop('Y[base + c] = r * (X2[base + c] * X1[c] - x * r * mg);')}
  if (lo == 0u) { Y1[row] = r; }`;
    case 'frobNormalize':
      // Newton-Schulz's start: a row is a whole matrix; x / (||x||_F + eps), rounded as core's ops.
      return `  var ss = 0.0;
${loop('ss = ss + x * x;')}
  let d = sqrt(${reduce('sum', 'ss')}) + bitcast<f32>(${u(2)});
${loop('Y[base + c] = x / d;')}`;
    case 'softmaxBackward':
      return `  var s = 0.0;
${loop('s = s + X1[base + c] * x;')}
  s = ${reduce('sum', 's')};
${loop('Y[base + c] = x * (X1[base + c] - s);')}`;
    case 'logSoftmaxBackward':
      return `  var s = 0.0;
${loop('s = s + X1[base + c];')}
  s = ${reduce('sum', 's')};
${loop('Y[base + c] = X1[base + c] - exp(x) * s;')}`;
    default: {
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
  }
}

/**
 * One row op over `rows` rows of length n. Uniforms: [rows, n, eps bits]. `inputs` and `outputs`
 * in the order rowBody documents (rmsNormBackward's second output holds one f32 per row).
 */
export function rowKernel(op: RowOp, inputs: readonly GPUBuffer[], rows: number, n: number, eps: number, outputs: readonly GPUBuffer[]): Program {
  const [nIn, nOut] = ARITY[op];
  if (inputs.length !== nIn || outputs.length !== nOut) throw new Error(`rowKernel ${op}: ${nIn} inputs and ${nOut} outputs expected`);
  const wg = n >= 128;
  const ins = inputs.map(() => 'f32');
  const outs = outputs.map(() => 'f32');
  const uniforms = [rows, n, f32Bits(eps)];
  const bufs = {
    inputs: inputs.map((buffer) => ({ buffer, dtype: 'f32' as const })),
    outputs: outputs.map((buffer) => ({ buffer, dtype: 'f32' as const })),
  };
  if (!wg) {
    return {
      key: `row:${op}|th`,
      code: () => [header(3, ins, outs), main1d(u(0), `  let n = ${u(1)}; let row = i; let base = i * n; let lo = 0u; let step = 1u;\n${rowBody(op, (_w, v) => v)}`)].join('\n'),
      ...bufs,
      uniforms,
      dispatch: grid1d(rows),
    };
  }
  const reduce = (what: 'max' | 'sum', v: string): string =>
    `treeReduce${what === 'max' ? 'Max' : 'Sum'}(${v}, lid)`;
  const code = (): string => `${header(3, ins, outs)}
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
    ...bufs,
    uniforms,
    dispatch: rows <= MAX_GROUPS ? [rows, 1, 1] : [MAX_GROUPS, Math.ceil(rows / MAX_GROUPS), 1],
  };
}

/**
 * RMSNorm's weight gradient: dw[c] = Σ_rows dy·x·r, one invocation per column (rows in order,
 * so the sum is deterministic). Inputs x [rows, n], dy [rows, n], r [rows] from rowKernel
 * 'rmsNormBackward'. Uniforms: [rows, n].
 */
export function rmsNormWeightGrad(x: GPUBuffer, dy: GPUBuffer, rstd: GPUBuffer, rows: number, n: number, dw: GPUBuffer): Program {
  return {
    key: 'row:rmsNormWeightGrad',
    code: () => [header(2, ['f32', 'f32', 'f32'], ['f32']), main1d(u(1), `  let n = ${u(1)};
  var acc = 0.0;
  for (var r = 0u; r < ${u(0)}; r = r + 1u) { acc = acc + X1[r * n + i] * X0[r * n + i] * X2[r]; }
  Y[i] = acc;`)].join('\n'),
    inputs: [x, dy, rstd].map((buffer) => ({ buffer, dtype: 'f32' as const })),
    outputs: [{ buffer: dw, dtype: 'f32' }],
    uniforms: [rows, n],
    dispatch: grid1d(n),
  };
}

/**
 * out = x·a + y (or x·a without y), elementwise over `count` floats; Newton-Schulz's polynomial
 * steps. Uniforms: [count, a bits].
 */
export function scaleAdd(x: GPUBuffer, a: number, y: GPUBuffer | undefined, count: number, out: GPUBuffer): Program {
  const ins = y ? ['f32', 'f32'] : ['f32'];
  return {
    key: `scaleAdd|${y ? 'y' : '-'}`,
    code: () => [header(2, ins, ['f32']), main1d(u(0), `  Y[i] = X0[i] * bitcast<f32>(${u(1)})${y ? ' + X1[i]' : ''};`)].join('\n'),
    inputs: [x, ...(y ? [y] : [])].map((buffer) => ({ buffer, dtype: 'f32' as const })),
    outputs: [{ buffer: out, dtype: 'f32' }],
    uniforms: [count, f32Bits(a)],
    dispatch: grid1d(count),
  };
}
