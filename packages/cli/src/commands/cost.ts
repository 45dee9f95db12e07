import { inferenceCost, preset } from '@karakoram/model';

/** Inference FLOPs and KV-cache bytes per generated token; with --heads, the change versus the preset. */
export function costCommand(opts: { preset: string; context: number; heads?: number; json?: boolean }, out: (s: string) => void): void {
  const cfg = preset(opts.preset);
  const base = inferenceCost(cfg, opts.context);
  const alt = opts.heads ? inferenceCost(preset(opts.preset, { num_attention_heads: opts.heads }), opts.context) : undefined;
  if (opts.json) {
    out(JSON.stringify({ preset: opts.preset, heads: cfg.num_attention_heads, ...base, ...(alt ? { alternative: { heads: opts.heads, ...alt } } : {}) }, null, 2));
    return;
  }
  const g = (f: number): string => `${(f / 1e9).toFixed(2)} GFLOP`;
  const kb = (b: number): string => `${b.toLocaleString('en-US')} B`;
  out(`${opts.preset} at context ${opts.context.toLocaleString('en-US')}, ${cfg.num_attention_heads} heads, per generated token:`);
  out(`  FLOPs, MLA absorbed (latent cache):   ${g(base.flops.absorbed)}`);
  out(`  FLOPs, naive (full K/V cache):        ${g(base.flops.naive)}`);
  out(`  KV cache, absorbed (bf16):            ${kb(base.kvBytesPerToken.absorbed)} per token, ${(base.kvBytes.absorbed / 2 ** 30).toFixed(2)} GiB at this context`);
  out(`  KV cache, full (bf16):                ${kb(base.kvBytesPerToken.full)} per token, ${(base.kvBytes.full / 2 ** 30).toFixed(2)} GiB at this context`);
  if (alt) {
    const pct = (a: number, b: number): string => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`;
    out(`with ${opts.heads} heads instead of ${cfg.num_attention_heads}:`);
    out(`  FLOPs, absorbed: ${g(alt.flops.absorbed)} (${pct(alt.flops.absorbed, base.flops.absorbed)})`);
    out(`  FLOPs, naive:    ${g(alt.flops.naive)} (${pct(alt.flops.naive, base.flops.naive)})`);
  }
  out('Counted: 2 FLOPs per multiply-add in every matmul a token passes through (attention projections,');
  out('dense MLP or router + chosen experts + shared experts, lm_head) plus attention scores and values over');
  out('the context; embedding lookups, norms, RoPE, softmax and activations are not counted.');
}
