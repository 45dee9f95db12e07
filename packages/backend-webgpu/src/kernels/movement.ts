/**
 * Movement kernels: permute, slice, pad and place (one input of a concat written into its box of
 * the output). One invocation per element; shapes and strides are uniforms.
 */
import type { DType } from '@karakoram/core';
import { grid1d, header, main1d, offsets, sizeOf, stridesOf, u, type Program } from '../program.js';

interface Operand {
  buffer: GPUBuffer;
  dtype: DType;
  shape: readonly number[];
}

/** out[c] = x[sum(c_d * inStrides[perm[d]])] */
export function permute(x: Operand, perm: readonly number[], y: GPUBuffer): Program {
  const R = x.shape.length;
  const out = perm.map((p) => x.shape[p]!);
  const st = stridesOf(x.shape);
  const n = sizeOf(out);
  const uniforms = [n, ...out, ...perm.map((p) => st[p]!)];
  return {
    key: `permute|${x.dtype}|r${R}`,
    code: () => [header(uniforms.length, [x.dtype], [x.dtype]), main1d(u(0), `${offsets('i', R, 1, [1 + R])}\n  Y[i] = X0[off0];`)].join('\n'),
    inputs: [x],
    outputs: [{ buffer: y, dtype: x.dtype }],
    uniforms,
    dispatch: grid1d(n),
  };
}

/** out[c] = x[begin + c] */
export function slice(x: Operand, begin: readonly number[], size: readonly number[], y: GPUBuffer): Program {
  const R = x.shape.length;
  const st = stridesOf(x.shape);
  const n = sizeOf(size);
  const base = begin.reduce((a, b, i) => a + b * st[i]!, 0);
  const uniforms = [n, base, ...size, ...st];
  return {
    key: `slice|${x.dtype}|r${R}`,
    code: () => [header(uniforms.length, [x.dtype], [x.dtype]), main1d(u(0), `${offsets('i', R, 2, [2 + R])}\n  Y[i] = X0[${u(1)} + off0];`)].join('\n'),
    inputs: [x],
    outputs: [{ buffer: y, dtype: x.dtype }],
    uniforms,
    dispatch: grid1d(n),
  };
}

/** out[c] = x[c - before] inside the box, 0 outside. Uniforms: [n, outShape, before, inShape, inStrides]. */
export function pad(x: Operand, before: readonly number[], outShape: readonly number[], y: GPUBuffer): Program {
  const R = x.shape.length;
  const n = sizeOf(outShape);
  const uniforms = [n, ...outShape, ...before, ...x.shape, ...stridesOf(x.shape)];
  const code = (): string => {
    const lines = ['  var rem = i;', '  var off = 0u;', '  var inside = true;'];
    for (let d = R - 1; d >= 0; d--) {
      lines.push(d > 0 ? `  { let c = rem % ${u(1 + d)}; rem = rem / ${u(1 + d)};` : '  { let c = rem;');
      // c - before as u32 wraps around for c < before, so one comparison checks both ends.
      lines.push(`    let k = c - ${u(1 + R + d)}; inside = inside && k < ${u(1 + 2 * R + d)}; off = off + k * ${u(1 + 3 * R + d)}; }`);
    }
    const zero = x.dtype === 'f32' ? '0.0' : '0';
    lines.push(`  if (inside) { Y[i] = X0[off]; } else { Y[i] = ${zero}; }`);
    return [header(uniforms.length, [x.dtype], [x.dtype]), main1d(u(0), lines.join('\n'))].join('\n');
  };
  return { key: `pad|${x.dtype}|r${R}`, code, inputs: [x], outputs: [{ buffer: y, dtype: x.dtype }], uniforms, dispatch: grid1d(n) };
}

/** Writes x into `out` (shape outShape) at element offset `base`: out[base + c . outStrides] = x[c]. */
export function place(x: Operand, outShape: readonly number[], base: number, y: GPUBuffer): Program {
  const R = x.shape.length;
  const n = sizeOf(x.shape);
  const uniforms = [n, base, ...x.shape, ...stridesOf(outShape)];
  return {
    key: `place|${x.dtype}|r${R}`,
    code: () => [header(uniforms.length, [x.dtype], [x.dtype]), main1d(u(0), `${offsets('i', R, 2, [2 + R])}\n  Y[${u(1)} + off0] = X0[i];`)].join('\n'),
    inputs: [x],
    outputs: [{ buffer: y, dtype: x.dtype }],
    uniforms,
    dispatch: grid1d(n),
  };
}
