/**
 * Elementwise kernels from one template: unary, binary with broadcasting, select, cast, fill and
 * expand. Each operand is read one of three ways, chosen per call and baked into the shader key:
 * 's' same shape as the output (index i), 'c' a single element (index 0), 'g' broadcast through
 * a strides table in the uniforms (rank-specialized, unrolled).
 */
import type { BinaryOp, DType, UnaryOp } from '@karakoram/core';
import { broadcastStrides, f32Bits, grid1d, header, main1d, offsets, sizeOf, u, type Program } from '../program.js';

type Layout = 's' | 'c' | 'g';

const layoutOf = (shape: readonly number[], out: readonly number[]): Layout =>
  sizeOf(shape) === 1 ? 'c' : shape.length === out.length && shape.every((d, i) => d === out[i]) ? 's' : 'g';

/** Helper functions some ops need, included only where used. */
const HELPERS = {
  // GPU sin/cos may be loose (SwiftShader: 2e-4): Cody-Waite reduction by pi/2 in three parts,
  // then Taylor polynomials on [-pi/4, pi/4]. Returns (sin x, cos x).
  trig: `fn sincosF(x: f32) -> vec2<f32> {
  let k = round(x * 0.63661977236758134);
  var r = x - k * 1.5703125;
  r = r - k * 4.837512969970703125e-4;
  r = r - k * 7.54978995489188216e-8;
  let z = r * r;
  var c = -1.0 / 3628800.0;
  c = c * z + 1.0 / 40320.0;
  c = c * z - 1.0 / 720.0;
  c = c * z + 1.0 / 24.0;
  c = c * z - 0.5;
  c = c * z + 1.0;
  var p = -1.0 / 39916800.0;
  p = p * z + 1.0 / 362880.0;
  p = p * z - 1.0 / 5040.0;
  p = p * z + 1.0 / 120.0;
  p = p * z - 1.0 / 6.0;
  let s = r + r * z * p;
  switch (i32(k) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}`,
  tanh: `fn tanhF(x: f32) -> f32 {
  // exp(-2|x|) never overflows; tanh(x) = sign(x) (1 - t) / (1 + t).
  let t = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - t) / (1.0 + t);
}`,
  sigmoid: `fn sigmoidF(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}`,
  pow: `fn powF(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (a == 0.0) { return select(0.0, posInf(), b < 0.0); }
  let r = exp2(b * log2(abs(a)));
  if (a < 0.0) {
    if (floor(b) != b) { return nanF(); }
    if (fract(b * 0.5) != 0.0) { return -r; }
  }
  return r;
}`,
  powI: `fn powI(a: i32, b: i32) -> i32 {
  if (b < 0) { return select(select(0, select(1, -1, (b & 1) != 0), a == -1), 1, a == 1); }
  var r = 1; var base = a; var e = b;
  loop { if (e == 0) { break; } if ((e & 1) != 0) { r = r * base; } base = base * base; e = e >> 1u; }
  return r;
}`,
};

function unaryExpr(op: UnaryOp, dtype: DType): { expr: string; helpers: string[] } {
  if (dtype === 'i32') {
    switch (op) {
      case 'neg': return { expr: '-x', helpers: [] };
      case 'abs': return { expr: 'abs(x)', helpers: [] };
      case 'sign': return { expr: 'sign(x)', helpers: [] };
      case 'square': return { expr: 'x * x', helpers: [] };
      case 'floor': return { expr: 'x', helpers: [] };
      default: {
        // Like the cpu backend: computed in floating point, truncated into the i32 output.
        const f = unaryExpr(op, 'f32');
        return { expr: `i32(${f.expr.replace(/\bx\b/g, 'f32(x)')})`, helpers: f.helpers };
      }
    }
  }
  switch (op) {
    case 'neg': return { expr: '-x', helpers: [] };
    case 'exp': return { expr: 'exp(x)', helpers: [] };
    case 'log': return { expr: 'log(x)', helpers: [] };
    case 'sqrt': return { expr: 'sqrt(x)', helpers: [] };
    case 'rsqrt': return { expr: '1.0 / sqrt(x)', helpers: [] };
    case 'reciprocal': return { expr: '1.0 / x', helpers: [] };
    case 'sin': return { expr: 'sincosF(x).x', helpers: [HELPERS.trig] };
    case 'cos': return { expr: 'sincosF(x).y', helpers: [HELPERS.trig] };
    case 'tanh': return { expr: 'tanhF(x)', helpers: [HELPERS.tanh] };
    case 'sigmoid': return { expr: 'sigmoidF(x)', helpers: [HELPERS.sigmoid] };
    case 'abs': return { expr: 'abs(x)', helpers: [] };
    case 'sign': return { expr: 'sign(x)', helpers: [] };
    case 'floor': return { expr: 'floor(x)', helpers: [] };
    case 'square': return { expr: 'x * x', helpers: [] };
  }
}

function binaryExpr(op: BinaryOp, dtype: DType): { expr: string; helpers: string[] } {
  const T = dtype;
  const h: string[] = [];
  let expr: string;
  switch (op) {
    case 'add': expr = 'a + b'; break;
    case 'sub': expr = 'a - b'; break;
    case 'mul': expr = 'a * b'; break;
    // i32: truncating division; a zero divisor gives 0, as the cpu backend's Int32Array store does.
    case 'div': expr = T === 'i32' ? 'select(a / select(b, 1, b == 0), 0, b == 0)' : 'a / b'; break;
    case 'pow':
      expr = T === 'i32' ? 'powI(a, b)' : 'powF(a, b)';
      h.push(T === 'i32' ? HELPERS.powI : HELPERS.pow);
      break;
    // NaN propagates from either side (isNan reads the bits, so no fast-math can drop it).
    case 'max': expr = T === 'f32' ? 'select(b, a, a > b || isNan(a))' : 'max(a, b)'; break;
    case 'min': expr = T === 'f32' ? 'select(b, a, a < b || isNan(a))' : 'min(a, b)'; break;
    case 'eq': expr = `${T}(a == b)`; break;
    case 'ne': expr = `${T}(a != b)`; break;
    case 'lt': expr = `${T}(a < b)`; break;
    case 'le': expr = `${T}(a <= b)`; break;
    case 'gt': expr = `${T}(a > b)`; break;
    case 'ge': expr = `${T}(a >= b)`; break;
  }
  return { expr, helpers: h };
}

/**
 * Shared template: out[i] = f(operands...) where operand k is read through its layout.
 * Uniform words: [n, outShape (rank), strides of each 'g' operand (rank each)].
 */
function template(
  keyBase: string, inputs: { buffer: GPUBuffer; dtype: DType; shape: readonly number[] }[], out: { buffer: GPUBuffer; dtype: DType; shape: readonly number[] },
  names: string[], body: string, helpers: string[],
): Program {
  const n = sizeOf(out.shape);
  const layouts = inputs.map((x) => layoutOf(x.shape, out.shape));
  const general = layouts.some((l) => l === 'g');
  const rank = general ? out.shape.length : 0;
  const uniforms = [n];
  const strideAt: number[] = [];
  if (general) {
    uniforms.push(...out.shape);
    inputs.forEach((x, k) => {
      if (layouts[k] !== 'g') return;
      strideAt.push(uniforms.length);
      uniforms.push(...broadcastStrides(x.shape, out.shape));
    });
  }
  const key = `${keyBase}|${inputs.map((x) => x.dtype).join(',')}|${layouts.join('')}|r${rank}`;
  return {
    key,
    code: () => {
      let g = 0;
      const reads = inputs.map((_, k) => {
        const idx = layouts[k] === 's' ? 'i' : layouts[k] === 'c' ? '0u' : `off${g++}`;
        return `  let ${names[k]} = X${k}[${idx}];`;
      });
      return [
        header(uniforms.length, inputs.map((x) => x.dtype), [out.dtype]),
        ...new Set(helpers),
        main1d(u(0), [general ? offsets('i', rank, 1, strideAt) : '', ...reads, body].join('\n')),
      ].join('\n');
    },
    inputs: inputs.map((x) => ({ buffer: x.buffer, dtype: x.dtype })),
    outputs: [{ buffer: out.buffer, dtype: out.dtype }],
    uniforms,
    dispatch: grid1d(n),
  };
}

type Operand = { buffer: GPUBuffer; dtype: DType; shape: readonly number[] };

export function unary(op: UnaryOp, x: Operand, y: GPUBuffer): Program {
  const { expr, helpers } = unaryExpr(op, x.dtype);
  return template(`unary:${op}`, [x], { buffer: y, dtype: x.dtype, shape: x.shape }, ['x'], `  Y[i] = ${expr};`, helpers);
}

export function binary(op: BinaryOp, a: Operand, b: Operand, y: GPUBuffer, outShape: readonly number[]): Program {
  const { expr, helpers } = binaryExpr(op, a.dtype);
  return template(`binary:${op}`, [a, b], { buffer: y, dtype: a.dtype, shape: outShape }, ['a', 'b'], `  Y[i] = ${expr};`, helpers);
}

export function select(c: Operand, a: Operand, b: Operand, y: GPUBuffer, outShape: readonly number[]): Program {
  const zero = c.dtype === 'f32' ? '0.0' : '0';
  return template('select', [c, a, b], { buffer: y, dtype: a.dtype, shape: outShape }, ['c', 'a', 'b'], `  Y[i] = select(b, a, c != ${zero});`, []);
}

export function cast(x: Operand, dtype: DType, y: GPUBuffer): Program {
  return template(`cast:${dtype}`, [x], { buffer: y, dtype, shape: x.shape }, ['x'], `  Y[i] = ${dtype}(x);`, []);
}

export function expand(x: Operand, y: GPUBuffer, outShape: readonly number[]): Program {
  return template('expand', [x], { buffer: y, dtype: x.dtype, shape: outShape }, ['x'], '  Y[i] = x;', []);
}

/** Uniform words: [n, bits of the value]. */
export function fill(value: number, dtype: DType, y: GPUBuffer, n: number): Program {
  return {
    key: `fill|${dtype}`,
    code: () => [header(2, [], [dtype]), main1d(u(0), `  Y[i] = bitcast<${dtype}>(${u(1)});`)].join('\n'),
    inputs: [],
    outputs: [{ buffer: y, dtype }],
    uniforms: [n, dtype === 'f32' ? f32Bits(value) : value >>> 0],
    dispatch: grid1d(n),
  };
}
