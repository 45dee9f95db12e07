/**
 * DeepSeek-V3 / Kimi K2 Mixture-of-Experts (K2-FACTS.md § MoE).
 *
 *   s = sigmoid(x · W_gateᵀ) (softmax for older configs)
 *   selection on s + e_score_correction_bias (noaux_tc); with n_group > 1 a group's score is the
 *   sum of its top-2 biased scores (noaux_tc) or its max (group_limited_greedy), the best
 *   topk_group groups stay, the top-k experts are taken among them
 *   w = s of the chosen experts (unbiased), / their sum when norm_topk_prob, × routed_scaling_factor
 *   out = Σ_k w_k expert_k(x) + shared_experts(x)
 *
 * Dispatch groups the (token, expert) pairs by expert with one device-side sort, runs each expert
 * once on its own tokens, and scatter-adds the weighted results back. Only the per-expert counts
 * (n_routed_experts numbers) come to the host, to size each expert's matmul.
 *
 * On a backend without synchronous reads (webgpu) the counts cannot size a matmul in the middle
 * of a forward pass, so dispatch runs every expert on every token and weights the results by the
 * dense routing weights (zero for experts not chosen): the same function and gradients, E/K times
 * the expert FLOPs. The load statistics then stay on the device: updateBias() uses them there,
 * and `await syncLoad()` brings them to lastLoad()/accumulatedLoad().
 */
import {
  KarakoramError, Module, deriveSeed, keep, noGrad, ops, tidy, type Tensor,
} from '@karakoram/core';
import { Mlp } from './mlp.js';

/** The HF config keys MoE reads (a DeepseekV3 `config.json` satisfies it). */
export interface MoeConfig {
  hidden_size: number;
  moe_intermediate_size: number;
  n_routed_experts: number | null;
  num_experts_per_tok: number | null;
  n_shared_experts: number | null;
  routed_scaling_factor: number;
  scoring_func: 'sigmoid' | 'softmax';
  topk_method: 'noaux_tc' | 'greedy' | 'group_limited_greedy';
  n_group: number | null;
  topk_group: number | null;
  norm_topk_prob: boolean;
  aux_loss_alpha?: number;
  initializer_range: number;
}

/** The router's decision for N tokens. */
export interface Routing {
  /** Unbiased scores s [N, E] (sigmoid or softmax), differentiable. */
  scores: Tensor;
  /** Chosen experts [N, K] (i32). */
  indices: Tensor;
  /** Routing weights [N, K]: normalised, scaled, differentiable through the scores. */
  weights: Tensor;
}

/** What MoE.forward returns: the mixed expert output and, when asked for, the balance loss. */
export interface MoeOutput {
  output: Tensor;
  /** The sequence-wise balance loss (alpha included) when requested. */
  auxLoss?: Tensor;
}

/** The router: gate.weight [E, H] (role 'matrix': DeepSeek/Moonlight train it with Muon) and the bias buffer. */
export class Gate extends Module {
  readonly weight: Tensor;
  readonly e_score_correction_bias: Tensor | undefined;
  constructor(readonly config: MoeConfig, seed: number) {
    super();
    const E = config.n_routed_experts!;
    this.weight = this.param('weight', tidy(() => ops.randomNormal([E, config.hidden_size], seed, 0, config.initializer_range)), 'matrix');
    if (config.topk_method === 'noaux_tc') this.e_score_correction_bias = this.param('e_score_correction_bias', ops.zeros([E]), 'buffer');
  }

  /** Routes x [N, H]. */
  route(x: Tensor): Routing {
    const logits = ops.linear(x, this.weight);
    const scores = this.config.scoring_func === 'sigmoid' ? ops.sigmoid(logits) : ops.softmax(logits);
    return { scores, ...selectExperts(scores, this.e_score_correction_bias, this.config) };
  }
}

/**
 * The selection rule on given scores [N, E]: biased choice (bias only for selection),
 * group-limited top-k, weights from the unbiased scores (normalised, scaled).
 */
export function selectExperts(scores: Tensor, bias: Tensor | undefined, c: Pick<MoeConfig, 'n_routed_experts' | 'num_experts_per_tok' | 'topk_method' | 'n_group' | 'topk_group' | 'norm_topk_prob' | 'routed_scaling_factor'>): { indices: Tensor; weights: Tensor } {
  const [N, E] = scores.shape as [number, number];
  const K = c.num_experts_per_tok!;
  const s0 = ops.stopGradient(scores);
  let choice = bias && c.topk_method === 'noaux_tc' ? ops.add(s0, bias) : s0;
  const G = c.n_group ?? 1;
  if (G > 1 && c.topk_method !== 'greedy') {
    if (E % G !== 0) throw new KarakoramError('config', `n_routed_experts ${E} is not divisible by n_group ${G}`, 'MoE');
    const grouped = ops.reshape(choice, [N, G, E / G]);
    // noaux_tc: a group's score is the sum of its top-2 biased scores; group_limited_greedy: its max.
    const groupScore = c.topk_method === 'noaux_tc' ? ops.sum(ops.topk(grouped, Math.min(2, E / G)).values, -1) : ops.max(grouped, -1);
    const keptGroups = ops.topk(groupScore, c.topk_group ?? 1).indices; // [N, topk_group]
    const groupMask = ops.sum(ops.oneHot(keptGroups, G), 1); // [N, G] 0/1
    const expertMask = ops.reshape(ops.broadcastTo(ops.reshape(groupMask, [N, G, 1]), [N, G, E / G]), [N, E]);
    choice = ops.where(expertMask, choice, -Infinity);
  }
  const indices = ops.topk(choice, K).indices;
  let weights = ops.takeAlongLastAxis(scores, indices);
  if (c.norm_topk_prob && K > 1) weights = ops.div(weights, ops.add(ops.sum(weights, -1, true), 1e-20));
  if (c.routed_scaling_factor !== 1) weights = ops.mul(weights, c.routed_scaling_factor);
  return { indices, weights };
}

class ExpertList extends Module {
  readonly list: Mlp[] = [];
  constructor(n: number, hidden: number, inter: number, std: number, seed: number) {
    super();
    for (let e = 0; e < n; e++) this.list.push(this.child(String(e), new Mlp(hidden, inter, { std, seed: deriveSeed(seed, e) })));
  }
}

/** A DeepSeek-V3 / K2 MoE block: the router (`gate`), routed SwiGLU experts and shared experts, with the aux-loss-free balance bias. */
export class MoE extends Module {
  readonly numExperts: number;
  readonly topK: number;
  readonly gate: Gate;
  readonly experts: ExpertList;
  readonly shared_experts: Mlp | undefined;
  private last: Float64Array;
  private accumulated: Float64Array;
  /** Loads counted on the device (backends without synchronous reads), not yet folded in. */
  private deviceLast: Tensor | undefined;
  private deviceLoad: Tensor | undefined;

  constructor(readonly config: MoeConfig, opts: { seed?: number } = {}) {
    super();
    const c = config;
    if (!c.n_routed_experts || !c.num_experts_per_tok) throw new KarakoramError('config', 'n_routed_experts and num_experts_per_tok must be set for a MoE layer', 'MoE');
    if (c.num_experts_per_tok > c.n_routed_experts) throw new KarakoramError('config', `num_experts_per_tok ${c.num_experts_per_tok} exceeds n_routed_experts ${c.n_routed_experts}`, 'MoE');
    const seed = opts.seed ?? 0;
    this.numExperts = c.n_routed_experts;
    this.topK = c.num_experts_per_tok;
    this.gate = this.child('gate', new Gate(c, deriveSeed(seed, 'gate')));
    this.experts = this.child('experts', new ExpertList(this.numExperts, c.hidden_size, c.moe_intermediate_size, c.initializer_range, deriveSeed(seed, 'experts')));
    if (c.n_shared_experts) {
      this.shared_experts = this.child('shared_experts', new Mlp(c.hidden_size, c.n_shared_experts * c.moe_intermediate_size, { std: c.initializer_range, seed: deriveSeed(seed, 'shared_experts') }));
    }
    this.last = new Float64Array(this.numExperts);
    this.accumulated = new Float64Array(this.numExperts);
  }

  /**
   * x [..., H] → output [..., H]. With `auxLoss` (x must be [B, T, H]) it also returns the
   * sequence-wise balance loss alpha·Σ_i f_i·P_i averaged over sequences (DeepSeek-V3).
   */
  forward(x: Tensor, opts: { auxLoss?: boolean } = {}): MoeOutput {
    const H = this.config.hidden_size;
    const N = x.size / H;
    const flat = ops.reshape(x, [N, H]);
    const routing = this.gate.route(flat);
    let out = this.dispatch(flat, routing);
    if (this.shared_experts) out = ops.add(out, this.shared_experts.forward(flat));
    const output = ops.reshape(out, x.shape);
    if (!opts.auxLoss) return { output };
    if (x.rank !== 3) throw new KarakoramError('shape', `the sequence-wise balance loss needs x [B, T, H], got [${x.shape}]`, 'MoE');
    return { output, auxLoss: this.balanceLoss(routing, x.shape[0]!, x.shape[1]!) };
  }

  /** Runs the chosen experts on their tokens only and combines them with the routing weights. */
  dispatch(x: Tensor, routing: Routing): Tensor {
    const [N, H] = x.shape as [number, number];
    const K = this.topK;
    const E = this.numExperts;
    const flatIdx = ops.reshape(routing.indices, [N * K]);
    if (!x.backend.readSync) return this.dispatchDense(x, routing);
    // Per-expert counts: E numbers, the only host read.
    const counts = noGrad(() => ops.scatterAdd([E], flatIdx, ops.ones([N * K]), 0)).dataSync();
    this.noteLoad(counts);
    // Stable sort of the (token, slot) pairs by expert id: top-k of -id keeps ties in order.
    const order = ops.topk(ops.neg(ops.cast(flatIdx, 'f32')), N * K).indices; // [N·K]
    const tokenOf = ops.reshape(ops.broadcastTo(ops.reshape(ops.arange(N, 'i32', x.backend), [N, 1]), [N, K]), [N * K]);
    const tokens = ops.gather(tokenOf, order, 0);
    const xs = ops.gather(x, tokens, 0); // [N·K, H], grouped by expert
    const ws = ops.gather(ops.reshape(routing.weights, [N * K]), order, 0);
    // One split (one tape node: its gradient is a single concat) into each used expert's rows.
    const used = [...Array(E).keys()].filter((e) => counts[e]! > 0);
    const pieces = ops.split(xs, used.map((e) => counts[e]!), 0);
    const parts = used.map((e, i) => this.experts.list[e]!.forward(pieces[i]!));
    const ys = ops.mul(ops.concat(parts, 0), ops.reshape(ws, [N * K, 1]));
    return ops.scatterAdd([N, H], tokens, ys, 0);
  }

  /** Every expert on every token, weighted by the dense [N, E] routing weights (see the file comment). */
  private dispatchDense(x: Tensor, routing: Routing): Tensor {
    const [N, H] = x.shape as [number, number];
    const K = this.topK;
    const E = this.numExperts;
    const rowBase = ops.broadcastTo(ops.mul(ops.reshape(ops.arange(N, 'i32', x.backend), [N, 1]), E), [N, K]);
    const pos = ops.reshape(ops.add(ops.reshape(routing.indices, [N, K]), rowBase), [N * K]);
    const dense = ops.reshape(ops.scatterAdd([N * E], pos, ops.reshape(routing.weights, [N * K]), 0), [N, E]);
    let out: Tensor | undefined;
    for (let e = 0; e < E; e++) {
      const y = ops.mul(this.experts.list[e]!.forward(x), ops.slice(dense, [0, e], [N, 1]));
      out = out ? ops.add(out, y) : y;
    }
    noGrad(() => {
      const counts = keep(ops.scatterAdd([E], ops.reshape(routing.indices, [N * K]), ops.ones([N * K], 'f32', x.backend), 0));
      const total = this.deviceLoad ? keep(ops.add(this.deviceLoad, counts)) : keep(ops.add(counts, 0));
      this.deviceLast?.dispose();
      this.deviceLoad?.dispose();
      this.deviceLast = counts;
      this.deviceLoad = total;
    });
    return out ?? ops.zeros([N, H], 'f32', x.backend);
  }

  /** Folds loads counted on the device into lastLoad() / accumulatedLoad() (webgpu). */
  async syncLoad(): Promise<void> {
    if (!this.deviceLoad || !this.deviceLast) return;
    const last = await this.deviceLast.data();
    const total = await this.deviceLoad.data();
    for (let e = 0; e < this.numExperts; e++) {
      this.last[e] = last[e]!;
      this.accumulated[e] = this.accumulated[e]! + total[e]!;
    }
    this.deviceLast.dispose();
    this.deviceLoad.dispose();
    this.deviceLast = this.deviceLoad = undefined;
  }

  /** DeepSeek-V3's sequence-wise balance loss: alpha · mean_b Σ_i f_{b,i} P_{b,i}. */
  balanceLoss(routing: Routing, B: number, T: number): Tensor {
    const E = this.numExperts;
    const K = this.topK;
    const alpha = this.config.aux_loss_alpha ?? 0;
    const s = ops.reshape(routing.scores, [B, T, E]);
    const sNorm = ops.div(s, ops.sum(s, -1, true));
    const P = ops.mean(sNorm, 1); // [B, E]
    const f = noGrad(() => {
      const rowBase = ops.reshape(ops.mul(ops.reshape(ops.arange(B, 'i32', s.backend), [B, 1, 1]), E), [B, 1, 1]);
      const idx = ops.reshape(ops.add(ops.reshape(routing.indices, [B, T, K]), rowBase), [B * T * K]);
      const counts = ops.scatterAdd([B * E], idx, ops.ones([B * T * K]), 0);
      return ops.reshape(ops.mul(counts, E / (K * T)), [B, E]);
    });
    return ops.mul(ops.mean(ops.sum(ops.mul(ops.stopGradient(f), P), -1)), alpha);
  }

  private noteLoad(counts: ArrayLike<number>): void {
    for (let e = 0; e < this.numExperts; e++) {
      this.last[e] = counts[e]!;
      this.accumulated[e] = this.accumulated[e]! + counts[e]!;
    }
  }

  /** Tokens per expert in the last forward pass. */
  lastLoad(): Float64Array {
    return this.last.slice();
  }
  /** Tokens per expert since the last updateBias() or resetLoad(). */
  accumulatedLoad(): Float64Array {
    return this.accumulated.slice();
  }
  /** Zeroes the per-expert token counts. */
  resetLoad(): void {
    this.accumulated.fill(0);
    this.deviceLoad?.dispose();
    this.deviceLoad = undefined;
  }

  /**
   * Auxiliary-loss-free balancing: bias_e += u · sign(mean_load - load_e), with the load counted
   * since the last update (or the given one); then the count restarts.
   */
  updateBias(u: number, load: ArrayLike<number> = this.accumulated): void {
    const bias = this.gate.e_score_correction_bias;
    if (!bias) throw new KarakoramError('config', `updateBias needs topk_method "noaux_tc" (got "${this.config.topk_method}")`, 'MoE');
    // Loads counted on the device (and nothing folded in on the host) stay there.
    const onDevice = load === this.accumulated && this.deviceLoad && this.accumulated.every((v) => v === 0) ? this.deviceLoad : undefined;
    const l = Float32Array.from(load);
    noGrad(() => tidy(() => {
      const t = onDevice ?? ops.tensor(l, [this.numExperts], 'f32', bias.backend);
      const next = ops.add(bias, ops.mul(ops.sign(ops.sub(ops.mean(t), t)), u));
      bias.assign(next);
    }));
    this.resetLoad();
  }
}


