/**
 * The counter-based generator of core/src/random.ts in WGSL. 'uniform' is bit-identical (u32
 * multiply, xor and shift wrap the same way as Math.imul). 'normal' is Box-Muller like normalAt,
 * but GPU log/cos are too loose for a 1e-6 match (Vulkan allows 2^-21 absolute error in log near
 * 1, which sqrt(-2 log u) turns into 1e-3), so both are computed here from the integers:
 *   log u1, u1 = (2 k1 + 1) / 2^25: for u1 >= 1/2 as log(1 - x) with x = d / 2^25 exact, else
 *     from the exponent and mantissa; both by the atanh series 2 atanh((y - 1) / (y + 1)).
 *   cos(2 pi k2 / 2^24): quadrant from the top bits, then a Taylor polynomial on [0, pi/4].
 */
import { grid1d, header, main1d, u, type Program } from '../program.js';

const WGSL_RANDOM = `
fn hash32(seed: u32, index: u32) -> u32 {
  var h = ((index ^ 0x9e3779b9u) * 0x85ebca6bu) ^ (seed * 0xc2b2ae35u);
  h = h ^ (h >> 16u);
  h = h * 0x7feb352du;
  h = h ^ (h >> 15u);
  h = h * 0x846ca68bu;
  h = h ^ (h >> 16u);
  return h;
}

// 2 atanh(s) = log((1 + s) / (1 - s)), |s| <= 1/3: series to s^17 (relative error < 3e-9).
fn atanh2(s: f32) -> f32 {
  let z = s * s;
  var p = 1.0 / 17.0;
  p = p * z + 1.0 / 15.0;
  p = p * z + 1.0 / 13.0;
  p = p * z + 1.0 / 11.0;
  p = p * z + 1.0 / 9.0;
  p = p * z + 1.0 / 7.0;
  p = p * z + 1.0 / 5.0;
  p = p * z + 1.0 / 3.0;
  p = p * z + 1.0;
  return 2.0 * s * p;
}

// log((2 k + 1) / 2^25) for k < 2^24.
fn logU1(k: u32) -> f32 {
  let n = 2u * k + 1u;
  if (n >= 0x1000000u) {
    let x = f32(0x2000000u - n) * (1.0 / 33554432.0); // 1 - u1, exact
    return atanh2(-x / (2.0 - x));
  }
  var e = i32(firstLeadingBit(n));
  var m = ldexp(f32(n), -e); // [1, 2), exact
  if (m > 1.41421356) { m = m * 0.5; e = e + 1; }
  let k2 = f32(e - 25);
  return k2 * 0.693145751953125 + (k2 * 1.428606765330187e-6 + atanh2((m - 1.0) / (m + 1.0)));
}

fn cosPoly(x: f32) -> f32 {
  let z = x * x;
  var p = -1.0 / 3628800.0;
  p = p * z + 1.0 / 40320.0;
  p = p * z - 1.0 / 720.0;
  p = p * z + 1.0 / 24.0;
  p = p * z - 0.5;
  return p * z + 1.0;
}
fn sinPoly(x: f32) -> f32 {
  let z = x * x;
  var p = -1.0 / 39916800.0;
  p = p * z + 1.0 / 362880.0;
  p = p * z - 1.0 / 5040.0;
  p = p * z + 1.0 / 120.0;
  p = p * z - 1.0 / 6.0;
  return x + x * z * p;
}

// cos(2 pi k / 2^24) for k < 2^24.
fn cos2pi(k: u32) -> f32 {
  let q = k >> 22u;
  let f = k & 0x3fffffu;
  var c: f32;
  var s: f32;
  if (f <= 0x200000u) {
    let x = f32(f) * (6.283185307179586 / 16777216.0);
    c = cosPoly(x); s = sinPoly(x);
  } else {
    let x = f32(0x400000u - f) * (6.283185307179586 / 16777216.0);
    c = sinPoly(x); s = cosPoly(x);
  }
  switch q {
    case 0u: { return c; }
    case 1u: { return -s; }
    case 2u: { return -c; }
    default: { return s; }
  }
}
`;

/** Uniforms: [n, seed]. */
export function random(kind: 'uniform' | 'normal', n: number, seed: number, y: GPUBuffer): Program {
  const body =
    kind === 'uniform'
      ? `  Y[i] = f32(hash32(${u(1)}, i) >> 8u) * (1.0 / 16777216.0);`
      : `  let k1 = hash32(${u(1)}, 2u * i) >> 8u;
  let k2 = hash32(${u(1)}, 2u * i + 1u) >> 8u;
  Y[i] = sqrt(-2.0 * logU1(k1)) * cos2pi(k2);`;
  return {
    key: `random:${kind}`,
    code: () => [header(2, [], ['f32']), WGSL_RANDOM, main1d(u(0), body)].join('\n'),
    inputs: [],
    outputs: [{ buffer: y, dtype: 'f32' }],
    uniforms: [n, seed >>> 0],
    dispatch: grid1d(n),
  };
}
