import { Module, ops, tidy, type Tensor } from '@karakoram/core';

/** A tiny model with one parameter of every role. */
export class Tiny extends Module {
  readonly embed: Tensor;
  readonly w1: Tensor;
  readonly w2: Tensor;
  readonly norm: Tensor;
  readonly head: Tensor;
  readonly bias: Tensor;
  readonly routerBias: Tensor;
  constructor(readonly V = 11, readonly D = 6, readonly H = 10, seed = 1) {
    super();
    const init = (shape: number[], s: number, std: number): Tensor => tidy(() => ops.randomNormal(shape, seed * 100 + s, 0, std));
    this.embed = this.param('embed_tokens.weight', init([V, D], 1, 1), 'embedding');
    this.w1 = this.param('mlp.up_proj.weight', init([H, D], 2, 0.4), 'matrix');
    this.w2 = this.param('mlp.down_proj.weight', init([D, H], 3, 0.3), 'matrix');
    this.norm = this.param('norm.weight', tidy(() => ops.add(init([D], 4, 0.1), 1)), 'norm');
    this.bias = this.param('mlp.up_proj.bias', init([H], 5, 0.1), 'bias');
    this.head = this.param('lm_head.weight', init([V, D], 6, 0.3), 'head');
    this.routerBias = this.param('gate.e_score_correction_bias', init([4], 7, 0.1), 'buffer');
  }

  loss(tokens: Tensor, targets: Tensor): Tensor {
    const x = ops.gather(this.embed, tokens, 0);
    const h = ops.silu(ops.linear(x, this.w1, this.bias));
    const y = ops.add(x, ops.linear(h, this.w2));
    const logits = ops.linear(ops.rmsNorm(y, this.norm, 1e-6), this.head);
    return ops.crossEntropy(logits, targets);
  }
}
