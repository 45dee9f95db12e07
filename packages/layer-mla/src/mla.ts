/**
 * Multi-head Latent Attention (DeepSeek-V3, Kimi K2), K2-FACTS.md § MLA.
 *
 *   q = q_b_proj(RMSNorm(q_a_proj(x)))  (or q_proj(x) when q_lora_rank is null), per head [nope | rope]
 *   [c_kv | k_rope] = kv_a_proj_with_mqa(x); k_rope is one head shared by all heads
 *   [k_nope | v] per head = kv_b_proj(RMSNorm(c_kv))
 *   logits_h = scale · (q_nope·k_nopeᵀ + rope(q_rope)·rope(k_rope)ᵀ) + causal mask
 *   out = o_proj(concat_h softmax(logits_h) · v_h)
 *
 * Two paths with the same result: `forward` (training: full keys and values, differentiable) and
 * `forwardAbsorbed` (inference: kv_b_proj's k_nope part folded into the query and its v part into
 * the output, so a `LatentCache` holds only RMSNorm(c_kv) and the roped k_rope per token).
 */
import {
  KarakoramError, Linear, Module, RMSNorm, deriveSeed, ops, tidy,
  type HeadClipRows, type QkClipTarget, type Tensor,
} from '@karakoram/core';
import { LatentCache } from './cache.js';
import { MaxLogitRecorder } from './max-logits.js';
import { Rope, applyRope, attentionContext, attentionMask, softmaxScale, type AttentionContext, type RopeScalingConfig } from './rope.js';

/** The HF config keys MLA reads (a DeepseekV3 `config.json` satisfies it). */
export interface MlaConfig {
  hidden_size: number;
  num_attention_heads: number;
  q_lora_rank: number | null;
  kv_lora_rank: number;
  qk_nope_head_dim: number;
  qk_rope_head_dim: number;
  v_head_dim: number;
  rope_theta: number;
  rope_scaling: RopeScalingConfig | null;
  rms_norm_eps: number;
  initializer_range: number;
  attention_bias?: boolean;
}

/** Options of an attention forward pass. */
export interface AttentionForwardOptions {
  /** Position of the first column (default 0); ignored when `context` is given. */
  positionOffset?: number;
  /** Keep the per-head max logit of this pass for QK-Clip (the trainer sets it). */
  recordMaxLogits?: boolean;
  /** Shared rotary tables and mask (the model builds one per forward for all layers). */
  context?: AttentionContext;
}

/** Multi-head Latent Attention with HF (DeepseekV3Attention) parameter names: `forward()` for training, `forwardAbsorbed()` over a latent KV cache; a QK-Clip target. */
export class MLA extends Module implements QkClipTarget {
  readonly qkClip = true as const;
  readonly numHeads: number;
  readonly nope: number;
  readonly ropeDim: number;
  readonly vDim: number;
  readonly kvLoraRank: number;
  readonly scale: number;
  readonly rope: Rope;

  readonly q_a_proj: Linear | undefined;
  readonly q_a_layernorm: RMSNorm | undefined;
  readonly q_b_proj: Linear | undefined;
  readonly q_proj: Linear | undefined;
  readonly kv_a_proj_with_mqa: Linear;
  readonly kv_a_layernorm: RMSNorm;
  readonly kv_b_proj: Linear;
  readonly o_proj: Linear;
  private readonly maxLogits = new MaxLogitRecorder();

  constructor(readonly config: MlaConfig, opts: { seed?: number } = {}) {
    super();
    const c = config;
    if (c.attention_bias) throw new KarakoramError('config', 'attention_bias = true is not supported (no K2-family checkpoint uses it)', 'MLA');
    const seed = opts.seed ?? 0;
    const std = c.initializer_range;
    const H = c.num_attention_heads;
    this.numHeads = H;
    this.nope = c.qk_nope_head_dim;
    this.ropeDim = c.qk_rope_head_dim;
    this.vDim = c.v_head_dim;
    this.kvLoraRank = c.kv_lora_rank;
    const qHead = this.nope + this.ropeDim;
    const init = (name: string) => ({ std, seed: deriveSeed(seed, name) });
    if (c.q_lora_rank !== null) {
      this.q_a_proj = this.child('q_a_proj', new Linear(c.hidden_size, c.q_lora_rank, init('q_a_proj')));
      this.q_a_layernorm = this.child('q_a_layernorm', new RMSNorm(c.q_lora_rank, c.rms_norm_eps));
      this.q_b_proj = this.child('q_b_proj', new Linear(c.q_lora_rank, H * qHead, init('q_b_proj')));
    } else {
      this.q_proj = this.child('q_proj', new Linear(c.hidden_size, H * qHead, init('q_proj')));
    }
    this.kv_a_proj_with_mqa = this.child('kv_a_proj_with_mqa', new Linear(c.hidden_size, c.kv_lora_rank + this.ropeDim, init('kv_a_proj_with_mqa')));
    this.kv_a_layernorm = this.child('kv_a_layernorm', new RMSNorm(c.kv_lora_rank, c.rms_norm_eps));
    this.kv_b_proj = this.child('kv_b_proj', new Linear(c.kv_lora_rank, H * (this.nope + this.vDim), init('kv_b_proj')));
    this.o_proj = this.child('o_proj', new Linear(H * this.vDim, c.hidden_size, init('o_proj')));
    this.scale = softmaxScale(qHead, c.rope_scaling);
    this.rope = new Rope(this.ropeDim, c.rope_theta, c.rope_scaling);
  }

  /** The query weight whose rows are [head][nope | rope]. */
  get queryWeight(): Linear {
    return (this.q_b_proj ?? this.q_proj)!;
  }

  /** Rotary tables and causal mask for T columns after `offset` cached ones (no padding). */
  context(batch: number, length: number, offset = 0): AttentionContext {
    return attentionContext(this.rope, { batch, length, offset });
  }

  /** q_nope [B, H, T, nope] and roped q_rope [B, H, T, rope], pre-multiplied by the softmax scale. */
  private queries(x: Tensor, ctx: AttentionContext): [Tensor, Tensor] {
    const [B, T] = x.shape as [number, number, number];
    const q = this.q_proj ? this.q_proj.forward(x) : this.q_b_proj!.forward(this.q_a_layernorm!.forward(this.q_a_proj!.forward(x)));
    // Scaling q (T·H·192 numbers) instead of the logits (H·T² numbers).
    const qh = ops.permute(ops.reshape(ops.mul(q, this.scale), [B, T, this.numHeads, this.nope + this.ropeDim]), [0, 2, 1, 3]);
    const [qNope, qRope] = ops.split(qh, [this.nope, this.ropeDim], -1) as [Tensor, Tensor];
    return [qNope, applyRope(qRope, ctx.rope)];
  }

  /** RMSNorm(c_kv) [B, T, kv_lora_rank] and the roped shared k_rope [B, T, rope]. */
  private latents(x: Tensor, ctx: AttentionContext): [Tensor, Tensor] {
    const [B, T] = x.shape as [number, number, number];
    const [cKv, kRope] = ops.split(this.kv_a_proj_with_mqa.forward(x), [this.kvLoraRank, this.ropeDim], -1) as [Tensor, Tensor];
    const roped = applyRope(ops.reshape(kRope, [B, 1, T, this.ropeDim]), ctx.rope);
    return [this.kv_a_layernorm.forward(cKv), ops.reshape(roped, [B, T, this.ropeDim])];
  }

  /** Training path: x [B, T, hidden] → [B, T, hidden], full keys and values, differentiable. */
  forward(x: Tensor, opts: AttentionForwardOptions = {}): Tensor {
    const [B, T] = x.shape as [number, number, number];
    const H = this.numHeads;
    const ctx = opts.context ?? selfContext(this.rope, B, T, opts.positionOffset ?? 0);
    const [qNope, qRope] = this.queries(x, ctx);
    const [latent, kRope] = this.latents(x, ctx);
    const kv = ops.permute(ops.reshape(this.kv_b_proj.forward(latent), [B, T, H, this.nope + this.vDim]), [0, 2, 1, 3]);
    const [kNope, v] = ops.split(kv, [this.nope, this.vDim], -1) as [Tensor, Tensor];
    // One attention over [q_nope | q_rope] · [k_nope | k_rope]ᵀ: the same logits as the two
    // products summed, and ops.attention never materialises them (or their softmax) on a backend
    // with a fused kernel. Broadcasting the shared k_rope to every head costs B·H·T·rope numbers.
    const q = ops.concat([qNope, qRope], -1);
    const k = ops.concat([kNope, ops.broadcastTo(ops.reshape(kRope, [B, 1, T, this.ropeDim]), [B, H, T, this.ropeDim])], -1);
    // q carries the softmax scale already (queries()).
    const { out, rowMax } = ops.attention(q, k, v, ctx.causal ? { causal: true } : { mask: ctx.mask });
    if (opts.recordMaxLogits) this.maxLogits.recordRowMax(rowMax);
    return this.o_proj.forward(ops.reshape(ops.permute(out, [0, 2, 1, 3]), [B, T, H * this.vDim]));
  }

  /**
   * Inference path: appends x's tokens to `cache` (positions continue from cache.length, causal
   * within the chunk) and attends in the latent space. Same result as forward() over the whole
   * sequence, up to rounding.
   */
  forwardAbsorbed(x: Tensor, cache: LatentCache, opts: { context?: AttentionContext } = {}): Tensor {
    return tidy(() => {
      const [B, T] = x.shape as [number, number, number];
      const H = this.numHeads;
      const r = this.kvLoraRank;
      const L0 = cache.length;
      const ctx = opts.context ?? this.context(B, T, L0);
      const [qNope, qRope] = this.queries(x, ctx);
      const [latent, kRope] = this.latents(x, ctx);
      cache.append(latent, kRope);
      const C = cache.latent!; // [B, L, r]
      const R = cache.rope!; // [B, L, rope]
      const L = C.shape[1]!;
      const w = ops.reshape(this.kv_b_proj.weight, [H, this.nope + this.vDim, r]);
      const wK = ops.slice(w, [0, 0, 0], [H, this.nope, r]);
      const wV = ops.slice(w, [0, this.nope, 0], [H, this.vDim, r]);
      // q_nope · W_UK per head: [H, B·T, nope] × [H, nope, r] → [H, B·T, r] → [B, H·T, r]
      const qAbs = ops.matmul(ops.reshape(ops.permute(qNope, [1, 0, 2, 3]), [H, B * T, this.nope]), wK);
      const qLat = ops.reshape(ops.permute(ops.reshape(qAbs, [H, B, T, r]), [1, 0, 2, 3]), [B, H * T, r]);
      const scores = ops.add(ops.matmul(qLat, C, false, true), ops.matmul(ops.reshape(qRope, [B, H * T, this.ropeDim]), R, false, true));
      const logits = ops.add(ops.reshape(scores, [B, H, T, L]), ctx.mask);
      const p = ops.reshape(softmax(logits), [B, H * T, L]);
      const oLat = ops.matmul(p, C); // [B, H·T, r]
      // · W_UVᵀ per head: [H, B·T, r] × [H, v, r]ᵀ → [H, B·T, v]
      const oH = ops.matmul(ops.reshape(ops.permute(ops.reshape(oLat, [B, H, T, r]), [1, 0, 2, 3]), [H, B * T, r]), wV, false, true);
      const merged = ops.reshape(ops.permute(ops.reshape(oH, [H, B, T, this.vDim]), [1, 2, 0, 3]), [B, T, H * this.vDim]);
      return this.o_proj.forward(merged);
    });
  }

  /** A fresh per-layer latent cache. */
  createCache(): LatentCache {
    return new LatentCache(this.kvLoraRank, this.ropeDim);
  }

  lastMaxLogits(): Float32Array | undefined {
    return this.maxLogits.read();
  }
  /** The same as a [heads] tensor (read it with await .data() on asynchronous backends). */
  lastMaxLogitsTensor(): Tensor | undefined {
    return this.maxLogits.current;
  }
  /** Forgets the recorded max logits. */
  resetMaxLogits(): void {
    this.maxLogits.reset();
  }

  /** The weight rows of head `h` that QK-Clip scales (q_nope, q_rope and k_nope rows). */
  headRows(h: number): HeadClipRows {
    if (!Number.isInteger(h) || h < 0 || h >= this.numHeads) throw new KarakoramError('args', `head ${h} is out of range [0, ${this.numHeads})`, 'MLA.headRows');
    const q = this.queryWeight;
    const qName = this.q_b_proj ? 'q_b_proj.weight' : 'q_proj.weight';
    const qh = this.nope + this.ropeDim;
    const kvh = this.nope + this.vDim;
    return {
      sqrtGamma: [
        { param: q.weight, name: qName, start: h * qh, end: h * qh + this.nope },
        { param: this.kv_b_proj.weight, name: 'kv_b_proj.weight', start: h * kvh, end: h * kvh + this.nope },
      ],
      gamma: [{ param: q.weight, name: qName, start: h * qh + this.nope, end: (h + 1) * qh }],
    };
  }
}

/** The training path's context: T keys and T queries at positions offset..offset+T-1. */
export function selfContext(rope: Rope, batch: number, length: number, offset: number): AttentionContext {
  return { rope: rope.tables({ batch, length, offset }), mask: attentionMask({ batch, length, offset: 0 }, length), causal: true };
}

/** Softmax over keys; logits are f32 throughout. */
const softmax = (t: Tensor): Tensor => ops.softmax(t);
