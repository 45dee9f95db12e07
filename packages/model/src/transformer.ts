/**
 * DeepseekV3ForCausalLM (Kimi K2, DeepSeek-V3, Moonlight) from an HF config, with the exact HF
 * parameter names:
 *
 *   model.embed_tokens.weight
 *   model.layers.{i}.input_layernorm.weight, .self_attn.* (MLA), .post_attention_layernorm.weight,
 *   model.layers.{i}.mlp.* (dense SwiGLU before first_k_dense_replace, MoE after)
 *   model.norm.weight, lm_head.weight
 *
 * Each block: h += self_attn(RMSNorm(h)); h += mlp(RMSNorm(h)). Two forward paths: `forward`
 * (training, full attention, differentiable) and `prefill` / `decodeStep` (absorbed MLA over a
 * per-layer latent cache). `generate` (generate.ts) batches prompts of different lengths with
 * left padding, per-row positions and key masks.
 */
import {
  Embedding, KarakoramError, Linear, Module, RMSNorm, deriveSeed, isQkClipTarget, ops, tidy,
  type QkClipTarget, type Tensor,
} from '@karakoram/core';
import { LatentCache, MLA, Rope, attentionContext, selfContext, type AttentionContext } from '@karakoram/layer-mla';
import { MoE, Mlp } from '@karakoram/layer-moe';
import { isMoeLayer, type ModelConfig } from './config.js';
import { generate, generateAsync, type GenerateOptions, type GenerateResult } from './generate.js';

/** Options of the training forward pass (DeepseekV3ForCausalLM.forward / loss). */
export interface ForwardOptions {
  /** Position of the first column (default 0). */
  positionOffset?: number;
  /** Keep each attention layer's per-head max logit (QK-Clip; the trainer sets it). */
  recordMaxLogits?: boolean;
  /** Also compute the MoE sequence-wise balance loss (alpha = aux_loss_alpha). */
  auxLoss?: boolean;
}

/** A module whose children are named 0, 1, 2, ... (HF's ModuleList). */
class ModuleList<M extends Module> extends Module {
  readonly items: M[] = [];
  push(m: M): M {
    this.items.push(this.child(String(this.items.length), m));
    return m;
  }
}

/** One transformer block (HF `model.layers.{i}`): RMSNorm + MLA attention, then RMSNorm + dense SwiGLU or MoE, each residual. */
export class DecoderLayer extends Module {
  readonly input_layernorm: RMSNorm;
  readonly self_attn: MLA;
  readonly post_attention_layernorm: RMSNorm;
  readonly mlp: Mlp | MoE;
  constructor(readonly config: ModelConfig, readonly index: number, seed: number) {
    super();
    const c = config;
    this.input_layernorm = this.child('input_layernorm', new RMSNorm(c.hidden_size, c.rms_norm_eps));
    this.self_attn = this.child('self_attn', new MLA(c, { seed: deriveSeed(seed, 'self_attn') }));
    this.post_attention_layernorm = this.child('post_attention_layernorm', new RMSNorm(c.hidden_size, c.rms_norm_eps));
    const mlpSeed = deriveSeed(seed, 'mlp');
    this.mlp = this.child('mlp', isMoeLayer(c, index)
      ? new MoE(c, { seed: mlpSeed })
      : new Mlp(c.hidden_size, c.intermediate_size, { std: c.initializer_range, seed: mlpSeed }));
  }

  private ffn(h: Tensor, auxLoss: boolean): { out: Tensor; aux?: Tensor } {
    const x = this.post_attention_layernorm.forward(h);
    if (this.mlp instanceof MoE) {
      const r = this.mlp.forward(x, { auxLoss });
      return { out: ops.add(h, r.output), aux: r.auxLoss };
    }
    return { out: ops.add(h, this.mlp.forward(x)) };
  }

  /** Training path over hidden states h [B, T, D]; returns the new h and, when asked, this layer's MoE balance loss. */
  forward(h: Tensor, ctx: AttentionContext, opts: { recordMaxLogits?: boolean; auxLoss?: boolean } = {}): { out: Tensor; aux?: Tensor } {
    const a = ops.add(h, this.self_attn.forward(this.input_layernorm.forward(h), { context: ctx, recordMaxLogits: opts.recordMaxLogits }));
    return this.ffn(a, opts.auxLoss ?? false);
  }

  /** Inference path: absorbed MLA that appends the new tokens to this layer's latent cache. */
  forwardAbsorbed(h: Tensor, cache: LatentCache, ctx: AttentionContext): Tensor {
    const a = ops.add(h, this.self_attn.forwardAbsorbed(this.input_layernorm.forward(h), cache, { context: ctx }));
    return this.ffn(a, false).out;
  }
}

/** The decoder stack (HF `model.*`): token embedding, the layers and the final RMSNorm; no lm_head. */
export class DeepseekV3Model extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<DecoderLayer>;
  readonly norm: RMSNorm;
  constructor(readonly config: ModelConfig, seed: number) {
    super();
    const c = config;
    this.embed_tokens = this.child('embed_tokens', new Embedding(c.vocab_size, c.hidden_size, { std: c.initializer_range, seed: deriveSeed(seed, 'embed_tokens') }));
    this.layers = this.child('layers', new ModuleList<DecoderLayer>());
    for (let i = 0; i < c.num_hidden_layers; i++) this.layers.push(new DecoderLayer(c, i, deriveSeed(seed, 'layers', i)));
    this.norm = this.child('norm', new RMSNorm(c.hidden_size, c.rms_norm_eps));
  }
}

/** The latent caches of every layer for one batch, and the batch's left padding. */
export class ModelCache {
  readonly layers: LatentCache[];
  /** Left-padding columns per row (set by prefill). */
  pads: number[] | undefined;
  constructor(model: DeepseekV3ForCausalLM) {
    this.layers = model.model.layers.items.map((l) => l.self_attn.createCache());
  }
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }
  /** Numbers cached per token over all layers: layers · (kv_lora_rank + qk_rope_head_dim). */
  get numbersPerToken(): number {
    return this.layers.reduce((s, l) => s + l.numbersPerToken, 0);
  }
  get bytesPerToken(): number {
    return 4 * this.numbersPerToken;
  }
  /** Frees every layer's cached latents. */
  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}

/**
 * The full causal LM (Kimi K2, DeepSeek-V3, Moonlight) built from an HF config with HF parameter
 * names: training forward/loss, cached prefill/decode and batched generation.
 */
export class DeepseekV3ForCausalLM extends Module {
  readonly model: DeepseekV3Model;
  readonly lm_head: Linear;
  readonly rope: Rope;

  constructor(readonly config: ModelConfig, opts: { seed?: number } = {}) {
    super();
    const c = config;
    if (c.tie_word_embeddings) throw new KarakoramError('config', 'tie_word_embeddings = true is not supported (K2-family checkpoints keep a separate lm_head)', 'DeepseekV3ForCausalLM');
    const seed = opts.seed ?? 0;
    this.model = this.child('model', new DeepseekV3Model(c, deriveSeed(seed, 'model')));
    this.lm_head = this.child('lm_head', new Linear(c.hidden_size, c.vocab_size, { std: c.initializer_range, seed: deriveSeed(seed, 'lm_head') }, 'head'));
    this.rope = new Rope(c.qk_rope_head_dim, c.rope_theta, c.rope_scaling);
  }

  get layers(): DecoderLayer[] {
    return this.model.layers.items;
  }

  private checkIds(ids: Tensor, where: string): [number, number] {
    if (ids.dtype !== 'i32' || ids.rank !== 2) throw new KarakoramError('args', `ids must be i32 [B, T], got ${ids.dtype} [${ids.shape}]`, where);
    return ids.shape as [number, number];
  }

  /** Training path: ids i32 [B, T] → logits [B, T, V] and, when asked, the summed MoE balance loss. */
  forwardWithAux(ids: Tensor, opts: ForwardOptions = {}): { logits: Tensor; auxLoss?: Tensor } {
    const [B, T] = this.checkIds(ids, 'forward');
    const ctx = selfContext(this.rope, B, T, opts.positionOffset ?? 0);
    let h = this.model.embed_tokens.forward(ids);
    let aux: Tensor | undefined;
    for (const layer of this.layers) {
      const r = layer.forward(h, ctx, opts);
      h = r.out;
      if (r.aux) aux = aux ? ops.add(aux, r.aux) : r.aux;
    }
    const logits = this.lm_head.forward(this.model.norm.forward(h));
    return aux ? { logits, auxLoss: aux } : { logits };
  }

  /** Training path: ids i32 [B, T] → logits [B, T, V]. */
  forward(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    return this.forwardWithAux(ids, { ...opts, auxLoss: false }).logits;
  }

  /**
   * Next-token cross entropy: targets[b, t] is the token that follows ids[b, t]; mask (f32 [B, T],
   * 1 = count) selects positions. Adds the MoE sequence-wise balance loss when `auxLoss` (default:
   * aux_loss_alpha > 0 and the model has MoE layers).
   */
  loss(ids: Tensor, targets: Tensor, mask?: Tensor, opts: ForwardOptions = {}): Tensor {
    const auxLoss = opts.auxLoss ?? ((this.config.aux_loss_alpha ?? 0) > 0 && this.moeLayers().length > 0);
    const { logits, auxLoss: aux } = this.forwardWithAux(ids, { ...opts, auxLoss });
    const ce = ops.crossEntropy(logits, targets, mask);
    return aux ? ops.add(ce, aux) : ce;
  }

  /** An empty per-layer latent cache. */
  createCache(): ModelCache {
    return new ModelCache(this);
  }

  /**
   * Absorbed forward of new tokens ids [B, T] appended to `cache` (positions continue from the
   * cache). `pads` (first call only) gives each row's left padding. Returns logits [B, T, V], or
   * [B, V] for the last column with `lastOnly`.
   */
  prefill(ids: Tensor, cache: ModelCache, opts: { pads?: readonly number[]; lastOnly?: boolean } = {}): Tensor {
    const [B, T] = this.checkIds(ids, 'prefill');
    if (opts.pads) {
      if (cache.length > 0) throw new KarakoramError('args', 'pads can only be set on the first call for a cache', 'prefill');
      if (opts.pads.length !== B) throw new KarakoramError('args', `pads has ${opts.pads.length} entries for a batch of ${B}`, 'prefill');
      cache.pads = [...opts.pads];
    }
    return tidy(() => {
      const ctx = attentionContext(this.rope, { batch: B, length: T, offset: cache.length, pads: cache.pads });
      let h = this.model.embed_tokens.forward(ids);
      this.layers.forEach((layer, i) => (h = layer.forwardAbsorbed(h, cache.layers[i]!, ctx)));
      if (opts.lastOnly) h = ops.reshape(ops.slice(h, [0, T - 1, 0], [B, 1, h.shape[2]!]), [B, h.shape[2]!]);
      return this.lm_head.forward(this.model.norm.forward(h));
    });
  }

  /** One new token per row: ids i32 [B] or [B, 1] → logits [B, V]. */
  decodeStep(ids: Tensor, cache: ModelCache): Tensor {
    const two = ids.rank === 1 ? ops.reshape(ids, [ids.shape[0]!, 1]) : ids;
    if (two.shape[1] !== 1) throw new KarakoramError('args', `decodeStep takes one token per row, got [${ids.shape}]`, 'decodeStep');
    if (cache.length === 0) throw new KarakoramError('args', 'decodeStep needs a prefilled cache', 'decodeStep');
    const out = this.prefill(two, cache, { lastOnly: true });
    if (two !== ids) two.dispose();
    return out;
  }

  /** Batched sampling; see generate.ts. */
  generate(prompts: readonly (readonly number[])[], opts: GenerateOptions): GenerateResult {
    return generate(this, prompts, opts);
  }

  /** generate() with asynchronous reads: the one to use on webgpu (works on every backend). */
  generateAsync(prompts: readonly (readonly number[])[], opts: GenerateOptions): Promise<GenerateResult> {
    return generateAsync(this, prompts, opts);
  }

  /** Per-layer, per-head max logits of the last recorded forward (undefined where none). */
  maxLogitsByLayer(): (Float32Array | undefined)[] {
    return this.layers.map((l) => l.self_attn.lastMaxLogits());
  }

  /** Every attention module MuonClip can clip, with its state-dict prefix. */
  qkClipTargets(): { name: string; target: QkClipTarget }[] {
    const out: { name: string; target: QkClipTarget }[] = [];
    for (const [name, m] of this.modules()) if (isQkClipTarget(m)) out.push({ name, target: m });
    return out;
  }

  /** The MoE layers (for aux-loss-free bias updates and load statistics). */
  moeLayers(): MoE[] {
    return this.layers.flatMap((l) => (l.mlp instanceof MoE ? [l.mlp] : []));
  }
}
