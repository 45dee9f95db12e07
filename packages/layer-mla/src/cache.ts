import { KarakoramError, keep, ops, type Tensor } from '@karakoram/core';

/**
 * The absorbed-MLA cache of ONE layer: per token, RMSNorm(c_kv) (kv_lora_rank numbers) and the
 * roped shared k_rope (qk_rope_head_dim numbers): 576 for Kimi K2 instead of heads·(nope+rope+v).
 * Its tensors are kept out of tidy scopes; dispose() frees them.
 */
export class LatentCache {
  /** [B, length, kv_lora_rank] */
  latent: Tensor | undefined;
  /** [B, length, qk_rope_head_dim] */
  rope: Tensor | undefined;

  constructor(readonly kvLoraRank: number, readonly ropeDim: number) {}

  get length(): number {
    return this.latent ? this.latent.shape[1]! : 0;
  }
  get batch(): number | undefined {
    return this.latent?.shape[0];
  }
  /** Numbers stored per token (and per batch row). */
  get numbersPerToken(): number {
    return this.kvLoraRank + this.ropeDim;
  }
  /** Bytes stored per token at f32. */
  get bytesPerToken(): number {
    return 4 * this.numbersPerToken;
  }

  /** Appends new tokens: latent [B, T, kv_lora_rank], rope [B, T, rope dim]. */
  append(latent: Tensor, rope: Tensor): void {
    if (latent.shape[2] !== this.kvLoraRank || rope.shape[2] !== this.ropeDim) {
      throw new KarakoramError('cache', `expected [B, T, ${this.kvLoraRank}] and [B, T, ${this.ropeDim}], got [${latent.shape}] and [${rope.shape}]`, 'LatentCache.append');
    }
    if (this.latent && this.latent.shape[0] !== latent.shape[0]) {
      throw new KarakoramError('cache', `batch ${latent.shape[0]} does not match the cached batch ${this.latent.shape[0]}`, 'LatentCache.append');
    }
    const nextLatent = this.latent ? ops.concat([this.latent, latent], 1) : ops.reshape(latent, latent.shape);
    const nextRope = this.rope ? ops.concat([this.rope, rope], 1) : ops.reshape(rope, rope.shape);
    this.latent?.dispose();
    this.rope?.dispose();
    this.latent = keep(ops.stopGradient(nextLatent));
    this.rope = keep(ops.stopGradient(nextRope));
  }

  /** Frees the cached latent and RoPE key tensors. */
  dispose(): void {
    this.latent?.dispose();
    this.rope?.dispose();
    this.latent = undefined;
    this.rope = undefined;
  }
}
