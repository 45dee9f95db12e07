/**
 * The three building blocks every transformer layer shares, with HF parameter names
 * (`weight`, stored [out, in] for Linear). Initialisation is deterministic from a seed.
 */
import { tidy } from '../engine.js';
import { hash32 } from '../random.js';
import type { Tensor } from '../tensor.js';
import { gather, linear, ones, randomNormal } from '../ops/math.js';
import { rmsNorm } from '../ops/nn.js';
import { Module, type ParamRole } from './module.js';

/** Normal(0, std) initialisation from a seed. */
export interface InitOptions {
  std: number;
  seed: number;
}

/** A child seed from a parent seed and a path (layer index, parameter name): stable and well mixed. */
export function deriveSeed(seed: number, ...path: readonly (number | string)[]): number {
  let s = seed >>> 0;
  for (const p of path) {
    if (typeof p === 'number') s = hash32(s, p);
    else for (let i = 0; i < p.length; i++) s = hash32(s, p.charCodeAt(i) + 0x10000 * (i + 1));
  }
  return s;
}

/** y = x · Wᵀ with W [out, in] (no bias: no K2-family projection has one). */
export class Linear extends Module {
  readonly weight: Tensor;
  constructor(readonly inFeatures: number, readonly outFeatures: number, init: InitOptions, role: ParamRole = 'matrix') {
    super();
    this.weight = this.param('weight', tidy(() => randomNormal([outFeatures, inFeatures], init.seed, 0, init.std)), role);
  }
  /** x · Wᵀ: [..., inFeatures] to [..., outFeatures]. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight);
  }
}

/** RMSNorm over the last axis with a gain initialised to ones (role 'norm'). */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(readonly dim: number, readonly eps: number) {
    super();
    this.weight = this.param('weight', ones([dim]), 'norm');
  }
  /** x · rsqrt(mean(x², last axis) + eps) · weight. */
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

/** Token embedding table [vocab, dim] (role 'embedding'); forward gathers rows by i32 ids. */
export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(readonly numEmbeddings: number, readonly dim: number, init: InitOptions) {
    super();
    this.weight = this.param('weight', tidy(() => randomNormal([numEmbeddings, dim], init.seed, 0, init.std)), 'embedding');
  }
  /** Looks up the rows for i32 token ids: shape ids.shape + [dim]. */
  forward(ids: Tensor): Tensor {
    return gather(this.weight, ids, 0);
  }
}
