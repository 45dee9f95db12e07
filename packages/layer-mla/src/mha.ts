/**
 * Plain multi-head attention (q_proj, k_proj, v_proj, o_proj; adjacent-pair RoPE on the whole
 * head), with the plain QK-Clip rule: a clipped head's W_q and W_k rows are each scaled by
 * sqrt(gamma). Used by the optimizer tests and as the baseline attention.
 */
import { KarakoramError, Linear, Module, deriveSeed, ops, type HeadClipRows, type QkClipTarget, type Tensor } from '@karakoram/core';
import { MaxLogitRecorder } from './max-logits.js';
import { Rope, applyRope, attentionContext, softmaxScale, type AttentionContext, type RopeScalingConfig } from './rope.js';
import { selfContext, type AttentionForwardOptions } from './mla.js';

/** The config of plain multi-head attention (HF names). */
export interface MhaConfig {
  hidden_size: number;
  num_attention_heads: number;
  /** Per-head dim (default hidden_size / heads). */
  head_dim?: number;
  rope_theta?: number;
  rope_scaling?: RopeScalingConfig | null;
  initializer_range?: number;
}

/** Plain multi-head attention (q/k/v/o projections, RoPE on the whole head): the baseline attention; a QK-Clip target. */
export class MHA extends Module implements QkClipTarget {
  readonly qkClip = true as const;
  readonly numHeads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly rope: Rope;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  private readonly maxLogits = new MaxLogitRecorder();

  constructor(readonly config: MhaConfig, opts: { seed?: number } = {}) {
    super();
    const H = config.num_attention_heads;
    const d = config.head_dim ?? config.hidden_size / H;
    if (!Number.isInteger(d)) throw new KarakoramError('config', `hidden_size ${config.hidden_size} is not divisible by ${H} heads; set head_dim`, 'MHA');
    this.numHeads = H;
    this.headDim = d;
    const std = config.initializer_range ?? 0.02;
    const seed = opts.seed ?? 0;
    const init = (name: string) => ({ std, seed: deriveSeed(seed, name) });
    this.q_proj = this.child('q_proj', new Linear(config.hidden_size, H * d, init('q_proj')));
    this.k_proj = this.child('k_proj', new Linear(config.hidden_size, H * d, init('k_proj')));
    this.v_proj = this.child('v_proj', new Linear(config.hidden_size, H * d, init('v_proj')));
    this.o_proj = this.child('o_proj', new Linear(H * d, config.hidden_size, init('o_proj')));
    this.scale = softmaxScale(d, config.rope_scaling ?? null);
    this.rope = new Rope(d, config.rope_theta ?? 10000, config.rope_scaling ?? null);
  }

  /** RoPE tables and the causal mask for a batch of `length` tokens starting at `offset`. */
  context(batch: number, length: number, offset = 0): AttentionContext {
    return attentionContext(this.rope, { batch, length, offset });
  }

  /** x [B, T, hidden] → [B, T, hidden], causal. */
  forward(x: Tensor, opts: AttentionForwardOptions = {}): Tensor {
    const [B, T] = x.shape as [number, number, number];
    const H = this.numHeads;
    const d = this.headDim;
    const ctx = opts.context ?? selfContext(this.rope, B, T, opts.positionOffset ?? 0);
    const heads = (t: Tensor): Tensor => ops.permute(ops.reshape(t, [B, T, H, d]), [0, 2, 1, 3]);
    const q = applyRope(heads(this.q_proj.forward(x)), ctx.rope);
    const k = applyRope(heads(this.k_proj.forward(x)), ctx.rope);
    const v = heads(this.v_proj.forward(x));
    const { out, rowMax } = ops.attention(q, k, v, ctx.causal ? { scale: this.scale, causal: true } : { scale: this.scale, mask: ctx.mask });
    if (opts.recordMaxLogits) this.maxLogits.recordRowMax(rowMax);
    return this.o_proj.forward(ops.reshape(ops.permute(out, [0, 2, 1, 3]), [B, T, H * d]));
  }

  lastMaxLogits(): Float32Array | undefined {
    return this.maxLogits.read();
  }
  /** The recorded per-head max logits as a [heads] tensor (read it with await .data() on asynchronous backends). */
  lastMaxLogitsTensor(): Tensor | undefined {
    return this.maxLogits.current;
  }
  /** Forgets the recorded max logits. */
  resetMaxLogits(): void {
    this.maxLogits.reset();
  }

  /** The W_q and W_k rows of head `h` that QK-Clip scales. */
  headRows(h: number): HeadClipRows {
    if (!Number.isInteger(h) || h < 0 || h >= this.numHeads) throw new KarakoramError('args', `head ${h} is out of range [0, ${this.numHeads})`, 'MHA.headRows');
    const d = this.headDim;
    return {
      sqrtGamma: [
        { param: this.q_proj.weight, name: 'q_proj.weight', start: h * d, end: (h + 1) * d },
        { param: this.k_proj.weight, name: 'k_proj.weight', start: h * d, end: (h + 1) * d },
      ],
      gamma: [],
    };
  }
}
