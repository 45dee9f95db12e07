import { ops, tidy, type Tensor } from '@karakoram/core';

const { abs, add, equal, greaterEqual, less, mul, neg, sub, where } = ops;

/** 2^16 + 1: Veltkamp's splitting constant for keeping 24 - 16 = 8 significant bits of an f32. */
const VELTKAMP = 65537;
/** 1.5 * 2^23: adding and subtracting it rounds |y| < 2^22 to an integer, ties to even. */
const ROUND_INT = 12582912;

/** Veltkamp split: the high part of x on 8 significant bits, rounded to nearest, ties to even. */
function veltkamp(x: Tensor): Tensor {
  const g = mul(x, VELTKAMP);
  return sub(g, sub(g, x));
}

/**
 * Rounds an f32 tensor to the nearest bfloat16 value (round to nearest, ties to even: what
 * `tensor.to(torch.bfloat16)` does), returned as f32. Every result is exactly representable in bf16.
 *
 * Backends have no bit casts, so this uses arithmetic only, and is exact on any backend whose f32
 * add, sub and mul are IEEE-754 correctly rounded and not fused across ops (each core op is its own
 * kernel, so nothing fuses them):
 *
 * - normal range: Veltkamp's split hi = g - (g - x) with g = (2^16 + 1) x keeps the top 8
 *   significant bits, rounded to nearest with ties to even;
 * - |x| >= 2^100 (where g would overflow): the same on x / 2^32, scaled back (powers of two are exact;
 *   values that round past the f32 maximum become infinity, as in a real cast);
 * - f32 subnormals (|x| < 2^-126): bf16 keeps multiples of 2^-133 there, so |x| is scaled by 2^133,
 *   rounded to an integer with the 1.5 * 2^23 trick and scaled back; the sign (and -0) is restored;
 * - infinities and NaN pass through.
 *
 * Checked bit for bit against the bit-level conversion on millions of values (ties, near-ties,
 * subnormals, overflow) in the tests. Backends that flush subnormals to zero (allowed in WGSL) flush
 * them here too.
 */
export function roundToBf16(x: Tensor): Tensor {
  return tidy(() => {
    const ax = abs(x);
    const normal = veltkamp(x);
    const big = mul(veltkamp(mul(x, 2 ** -32)), 2 ** 32);
    const y = mul(mul(ax, 2 ** 100), 2 ** 33);
    const r = mul(mul(sub(add(y, ROUND_INT), ROUND_INT), 2 ** -100), 2 ** -33);
    const tiny = where(equal(r, 0), mul(x, 0), where(less(x, 0), neg(r), r));
    const finiteOut = where(less(ax, 2 ** -126), tiny, where(greaterEqual(ax, 2 ** 100), big, normal));
    return where(equal(ax, Infinity), x, finiteOut);
  });
}
