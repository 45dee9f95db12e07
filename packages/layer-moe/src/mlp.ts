import { Linear, Module, deriveSeed, ops, type Tensor } from '@karakoram/core';

/** SwiGLU feed-forward: down_proj(silu(gate_proj(x)) * up_proj(x)). Dense layers, experts, shared experts. */
export class Mlp extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  constructor(readonly hidden: number, readonly intermediate: number, init: { std: number; seed: number }) {
    super();
    const i = (n: string) => ({ std: init.std, seed: deriveSeed(init.seed, n) });
    this.gate_proj = this.child('gate_proj', new Linear(hidden, intermediate, i('gate_proj')));
    this.up_proj = this.child('up_proj', new Linear(hidden, intermediate, i('up_proj')));
    this.down_proj = this.child('down_proj', new Linear(intermediate, hidden, i('down_proj')));
  }
  /** SwiGLU: down_proj(silu(gate_proj(x)) * up_proj(x)). */
  forward(x: Tensor): Tensor {
    return this.down_proj.forward(ops.swiglu(this.gate_proj.forward(x), this.up_proj.forward(x)));
  }
}
