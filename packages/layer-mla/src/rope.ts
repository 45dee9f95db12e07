/**
 * Rotary position embedding on ADJACENT pairs (x[2i], x[2i+1]), the layout of DeepSeek-V3's
 * official code and of the checkpoints, with YaRN frequency interpolation (K2-FACTS.md):
 *
 *   freq_i = base^(-2i/d); corr(r) = d·ln(L_orig / (2π r)) / (2 ln base)
 *   low = floor(corr(beta_fast)), high = ceil(corr(beta_slow)), clamped to [0, d-1]
 *   ramp_i = clamp((i - low) / (high - low), 0, 1)   (high += 0.001 when equal)
 *   freq_i' = freq_i / factor · ramp_i + freq_i · (1 - ramp_i)
 *
 * The rotation is out = x·cos + swap(x)·sin', where swap exchanges the two members of each pair
 * and sin' carries the sign (-sin on even slots, +sin on odd ones): one gather and three
 * elementwise ops, differentiable, on any backend.
 */
import { KarakoramError, ops, type Backend, type Tensor } from '@karakoram/core';

/** The rope_scaling block of an HF config (YaRN, as Kimi K2 and DeepSeek-V3 use it; or linear). */
export interface RopeScalingConfig {
  type?: string;
  rope_type?: string;
  factor: number;
  original_max_position_embeddings: number;
  beta_fast?: number;
  beta_slow?: number;
  mscale?: number;
  mscale_all_dim?: number;
}

/** YaRN's magnitude correction: 0.1·m·ln(scale) + 1 (1 when scale <= 1). */
export function yarnGetMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

function scalingKind(s: RopeScalingConfig): 'yarn' | 'linear' {
  const t = s.rope_type ?? s.type ?? 'yarn';
  if (t === 'yarn' || t === 'linear') return t;
  throw new KarakoramError('rope', `rope_scaling type "${t}" is not supported (expected "yarn" or "linear")`, 'rope_scaling');
}

/** The d/2 inverse frequencies (float64), YaRN-interpolated when `scaling` is a yarn block. */
export function ropeInvFreq(dim: number, base: number, scaling: RopeScalingConfig | null = null): Float64Array {
  if (dim % 2 !== 0) throw new KarakoramError('rope', `the rotary dim must be even, got ${dim}`);
  const half = dim / 2;
  const freq = new Float64Array(half);
  for (let i = 0; i < half; i++) freq[i] = Math.pow(base, (-2 * i) / dim);
  if (!scaling) return freq;
  if (scalingKind(scaling) === 'linear') return freq.map((f) => f / scaling.factor);
  const corr = (rot: number): number => (dim * Math.log(scaling.original_max_position_embeddings / (2 * Math.PI * rot))) / (2 * Math.log(base));
  const clamp = (v: number): number => Math.min(Math.max(v, 0), dim - 1);
  const low = clamp(Math.floor(corr(scaling.beta_fast ?? 32)));
  let high = clamp(Math.ceil(corr(scaling.beta_slow ?? 1)));
  if (high === low) high += 0.001;
  for (let i = 0; i < half; i++) {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    freq[i] = (freq[i]! / scaling.factor) * ramp + freq[i]! * (1 - ramp);
  }
  return freq;
}

/**
 * The factor on cos and sin (HF's `_mscale`): mscale(factor, mscale) / mscale(factor,
 * mscale_all_dim). It is 1 for Kimi K2 and DeepSeek-V3 (both values are 1).
 */
export function ropeMagnitude(scaling: RopeScalingConfig | null): number {
  if (!scaling || scalingKind(scaling) !== 'yarn') return 1;
  return yarnGetMscale(scaling.factor, scaling.mscale ?? 1) / yarnGetMscale(scaling.factor, scaling.mscale_all_dim ?? 0);
}

/**
 * softmax scale = qkHeadDim^-0.5, times m² with m = 0.1·mscale_all_dim·ln(factor) + 1 when YaRN
 * is on and mscale_all_dim is set (HF's rule; the official code applies it whenever the context
 * is extended past original_max_position_embeddings, with the same value).
 */
export function softmaxScale(qkHeadDim: number, scaling: RopeScalingConfig | null): number {
  let s = 1 / Math.sqrt(qkHeadDim);
  if (scaling && scalingKind(scaling) === 'yarn' && scaling.mscale_all_dim) {
    const m = yarnGetMscale(scaling.factor, scaling.mscale_all_dim);
    s *= m * m;
  }
  return s;
}

/**
 * Which position each query column has: position(b, t) = offset + t - pads[b] (clamped at 0),
 * pads being the number of left-padding columns of row b.
 */
export interface PositionGrid {
  batch: number;
  length: number;
  offset: number;
  pads?: readonly number[];
}

/** cos and signed sin [Bp, 1, T, d] (Bp = batch with per-row pads, else 1), and the pair swap. */
export interface RopeTables {
  cos: Tensor;
  sin: Tensor;
  swap: Tensor;
}

/** Frequencies of one rotary embedding, and the tables for a grid of positions. */
export class Rope {
  readonly invFreq: Float64Array;
  readonly magnitude: number;
  constructor(readonly dim: number, readonly base: number, readonly scaling: RopeScalingConfig | null = null) {
    this.invFreq = ropeInvFreq(dim, base, scaling);
    this.magnitude = ropeMagnitude(scaling);
  }

  /** Angles are computed in float64 on the host (T·d numbers, once per forward) and uploaded. */
  tables(grid: PositionGrid, backend?: Backend): RopeTables {
    const { dim } = this;
    const rows = grid.pads ? grid.batch : 1;
    const T = grid.length;
    const cos = new Float32Array(rows * T * dim);
    const sin = new Float32Array(rows * T * dim);
    for (let b = 0; b < rows; b++) {
      const pad = grid.pads ? grid.pads[b]! : 0;
      for (let t = 0; t < T; t++) {
        const p = Math.max(0, grid.offset + t - pad);
        const o = (b * T + t) * dim;
        for (let i = 0; i < dim / 2; i++) {
          const a = p * this.invFreq[i]!;
          const c = Math.cos(a) * this.magnitude;
          const s = Math.sin(a) * this.magnitude;
          cos[o + 2 * i] = c;
          cos[o + 2 * i + 1] = c;
          sin[o + 2 * i] = -s;
          sin[o + 2 * i + 1] = s;
        }
      }
    }
    const swap = new Int32Array(dim);
    for (let i = 0; i < dim; i++) swap[i] = i ^ 1;
    return {
      cos: ops.tensor(cos, [rows, 1, T, dim], 'f32', backend),
      sin: ops.tensor(sin, [rows, 1, T, dim], 'f32', backend),
      swap: ops.tensor(swap, [dim], 'i32', backend),
    };
  }
}

/** Rotates the adjacent pairs of x [B, heads, T, d] by the tables (broadcast over heads). */
export function applyRope(x: Tensor, t: RopeTables): Tensor {
  const swapped = ops.gather(x, t.swap, x.rank - 1);
  return ops.add(ops.mul(x, t.cos), ops.mul(swapped, t.sin));
}

/** -1e9: masked logits vanish under softmax in f32 and never win the max-logit statistic. */
export const MASKED = -1e9;

/**
 * Additive attention mask [Bm, 1, T, Lk]: 0 where key j is visible to query column t
 * (j <= offset + t and j >= pads[b]), MASKED elsewhere. Built on the device from two aranges.
 */
export function attentionMask(grid: PositionGrid, keyLength: number, backend?: Backend): Tensor {
  const T = grid.length;
  const rows = ops.reshape(ops.add(ops.arange(T, 'i32', backend), grid.offset), [T, 1]);
  const cols = ops.reshape(ops.arange(keyLength, 'i32', backend), [1, keyLength]);
  let visible = ops.lessEqual(cols, rows); // [T, Lk] i32 0/1
  if (grid.pads) {
    const pads = ops.tensor([...grid.pads], [grid.batch, 1, 1, 1], 'i32', backend);
    visible = ops.mul(ops.reshape(visible, [1, 1, T, keyLength]), ops.greaterEqual(ops.reshape(cols, [1, 1, 1, keyLength]), pads));
  } else {
    visible = ops.reshape(visible, [1, 1, T, keyLength]);
  }
  return ops.where(ops.cast(visible, 'f32'), 0, MASKED);
}

/** What every attention layer of one forward shares: rotary tables and the mask. */
export interface AttentionContext {
  rope: RopeTables;
  mask: Tensor;
  /**
   * True when `mask` is exactly the plain causal mask (no padding, no cached prefix): the training
   * path then asks ops.attention for causal masking, which a fused kernel applies without reading
   * the mask (and skips the hidden half of the logits).
   */
  causal?: boolean;
}

/** Rotary tables and mask for T new columns after `grid.offset` cached ones. */
export function attentionContext(rope: Rope, grid: PositionGrid, backend?: Backend): AttentionContext {
  return { rope: rope.tables(grid, backend), mask: attentionMask(grid, grid.offset + grid.length, backend) };
}
