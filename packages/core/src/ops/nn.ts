/**
 * Neural-network ops. Each has a composite default built from primitives; a backend may supply a
 * fused forward (Backend.fused), and the gradient is then the rule written here once for all.
 */
import { record } from '../autodiff/tape.js';
import { KarakoramError, ShapeError, fmtShape } from '../errors.js';
import { shapesEqual } from '../shape.js';
import { wrap, type Tensor } from '../tensor.js';
import * as P from './primitives.js';
import * as M from './math.js';

/** softmax over the last axis. */
export function softmax(x: Tensor): Tensor {
  const f = x.backend.fused?.softmax;
  const y = f ? wrap(x.backend, f.call(x.backend.fused, x.info), x.shape, x.dtype) : M.exp(logSoftmaxComposite(x));
  if (!f) return y;
  return record('softmax', [x], y, (dy) => {
    const fb = x.backend.fused?.softmaxBackward;
    if (fb) return [wrap(x.backend, fb.call(x.backend.fused, y.info, dy.info), x.shape, x.dtype)];
    return [M.mul(y, M.sub(dy, M.sum(M.mul(dy, y), -1, true)))];
  });
}

function logSoftmaxComposite(x: Tensor): Tensor {
  // (x - max) - log(sum(exp(x - max))): the max is never added back, which would round the
  // result to the f32 spacing of |x| (about 6e-5 for logits near 1000).
  const shifted = M.sub(x, M.stopGradient(M.max(x, -1, true)));
  return M.sub(shifted, M.log(M.sum(M.exp(shifted), -1, true)));
}

/** log-softmax over the last axis. */
export function logSoftmax(x: Tensor): Tensor {
  const f = x.backend.fused?.logSoftmax;
  if (!f) return logSoftmaxComposite(x);
  const y = wrap(x.backend, f.call(x.backend.fused, x.info), x.shape, x.dtype);
  return record('logSoftmax', [x], y, (dy) => {
    const fb = x.backend.fused?.logSoftmaxBackward;
    if (fb) return [wrap(x.backend, fb.call(x.backend.fused, y.info, dy.info), x.shape, x.dtype)];
    return [M.sub(dy, M.mul(M.exp(y), M.sum(dy, -1, true)))];
  });
}

/** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight (computed in f32). */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const d = x.shape[x.rank - 1]!;
  if (weight.rank !== 1 || weight.shape[0] !== d) throw new ShapeError('rmsNorm', `weight ${fmtShape(weight.shape)} does not match the last dim of ${fmtShape(x.shape)}`);
  const f = x.backend.fused?.rmsNorm;
  if (!f) {
    const r = M.rsqrt(M.add(M.mean(M.square(x), -1, true), eps));
    return M.mul(M.mul(x, r), weight);
  }
  const y = wrap(x.backend, f.call(x.backend.fused, x.info, weight.info, eps), x.shape, x.dtype);
  return record('rmsNorm', [x, weight], y, (dy) => {
    const fb = x.backend.fused?.rmsNormBackward;
    if (fb) {
      const g = fb.call(x.backend.fused, x.info, weight.info, eps, dy.info);
      return [wrap(x.backend, g.dx, x.shape, x.dtype), wrap(x.backend, g.dweight, weight.shape, weight.dtype)];
    }
    const r = M.rsqrt(M.add(M.mean(M.square(x), -1, true), eps));
    const xhat = M.mul(x, r);
    const gw = P.sumTo(M.mul(dy, xhat), weight.shape);
    const g = M.mul(dy, weight);
    // d xhat: r * (g - xhat * mean(g * xhat))
    const dx = M.mul(r, M.sub(g, M.mul(xhat, M.mean(M.mul(g, xhat), -1, true))));
    return [dx, gw];
  });
}

/** SwiGLU: silu(gate) * up. */
export const swiglu = (gate: Tensor, up: Tensor): Tensor => M.mul(M.silu(gate), up);

/**
 * Cross-entropy of logits [..., V] against i32 targets [...], averaged over positions whose
 * mask is 1 (all positions when no mask is given).
 */
export function crossEntropy(logits: Tensor, targets: Tensor, mask?: Tensor): Tensor {
  const V = logits.shape[logits.rank - 1]!;
  if (targets.dtype !== 'i32') throw new KarakoramError('dtype', `targets must be i32, got ${targets.dtype}`, 'crossEntropy');
  if (!shapesEqual(logits.shape.slice(0, -1), targets.shape)) throw new ShapeError('crossEntropy', `logits ${fmtShape(logits.shape)} and targets ${fmtShape(targets.shape)} do not match`);
  const n = targets.size;
  const lp = logSoftmax(M.reshape(logits, [n, V]));
  const picked = M.takeAlongLastAxis(lp, M.reshape(targets, [n, 1]));
  const nll = M.neg(M.reshape(picked, [n]));
  if (!mask) return M.mean(nll);
  const m = M.reshape(mask, [n]);
  return M.div(M.sum(M.mul(nll, m)), M.maximum(M.sum(m), 1));
}

/** How ops.attention masks and scales. */
export interface AttentionOptions {
  /** Multiplies q·kᵀ (default 1: pass pre-scaled queries). */
  scale?: number;
  /** Causal: key j is visible to query i iff j <= i + S - T (the last query sees every key). */
  causal?: boolean;
  /**
   * Additive f32 mask [Bm, Hm, T, S] (Bm in {1, B}, Hm in {1, H}), added to the scaled logits;
   * use a large negative value (-1e9) for hidden keys. It is a constant: no gradient flows to it.
   */
  mask?: Tensor;
}

/** What ops.attention returns: the attended values and each query row's max logit (for QK-Clip). */
export interface AttentionResult {
  /** softmax(scale·q·kᵀ + mask) · v: [B, H, T, Dv]. */
  out: Tensor;
  /**
   * The max logit of each query row over its visible keys [B, H, T] (no gradient): QK-Clip's
   * per-head max logit is its max over batch and rows, read without a [B, H, T, S] reduction.
   */
  rowMax: Tensor;
}

/** The value a causal mask gives hidden logits in the composite path (vanishes under softmax in f32). */
const CAUSAL_MASKED = -1e9;

/**
 * Scaled dot-product attention of q [B, H, T, D], k [B, H, S, D], v [B, H, S, Dv], softmax over
 * keys in f32. A backend with `fused.attention` computes it without materialising more than a
 * block of the [T, S] logits per head; the composite default builds it from primitives. The
 * gradient rule for the fused path is written here once (with `fused.attentionBackward` as an
 * optional accelerator of the same rule).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): AttentionResult {
  const scale = opts.scale ?? 1;
  const causal = opts.causal ?? false;
  const mask = opts.mask;
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new ShapeError('attention', `q, k, v must be [B, H, T, D], [B, H, S, D], [B, H, S, Dv]; got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`);
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const S = k.shape[2]!;
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== D || v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== S) {
    throw new ShapeError('attention', `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} do not match ([B, H, T, D], [B, H, S, D], [B, H, S, Dv])`);
  }
  if (q.dtype !== 'f32' || k.dtype !== 'f32' || v.dtype !== 'f32') throw new KarakoramError('dtype', 'q, k and v must be f32', 'attention');
  if (causal && S < T) throw new ShapeError('attention', `causal attention needs at least as many keys as queries (S = ${S}, T = ${T})`);
  if (mask) {
    const [mb, mh, mt, ms] = mask.shape as [number, number, number, number];
    if (mask.rank !== 4 || (mb !== 1 && mb !== B) || (mh !== 1 && mh !== H) || mt !== T || ms !== S || mask.dtype !== 'f32') {
      throw new ShapeError('attention', `mask must be f32 [1 or ${B}, 1 or ${H}, ${T}, ${S}], got ${mask.dtype} ${fmtShape(mask.shape)}`);
    }
  }
  const be = q.backend;
  const f = be.fused?.attention;
  const fo = { scale, causal, mask: mask?.info };
  // A fused kernel may decline a shape (undefined): the composite below then runs.
  const r = f?.call(be.fused, q.info, k.info, v.info, fo);
  if (!r) {
    let s = M.matmul(q, k, false, true);
    if (scale !== 1) s = M.mul(s, scale);
    if (causal) s = M.add(s, causalMask(T, S, be));
    if (mask) s = M.add(s, M.stopGradient(mask));
    const rowMax = M.max(M.stopGradient(s), -1);
    return { out: M.matmul(softmax(s), v), rowMax };
  }
  const Dv = v.shape[3]!;
  const out = wrap(be, r.out, [B, H, T, Dv], 'f32');
  const rowMax = wrap(be, r.rowMax, [B, H, T], 'f32');
  const lse = wrap(be, r.lse, [B, H, T], 'f32');
  record('attention', [q, k, v], out, (dOut) => {
    const fb = be.fused?.attentionBackward;
    if (fb) {
      const g = fb.call(be.fused, q.info, k.info, v.info, out.info, lse.info, dOut.info, { ...fo, mask: mask?.info });
      return [wrap(be, g.dq, q.shape, 'f32'), wrap(be, g.dk, k.shape, 'f32'), wrap(be, g.dv, v.shape, 'f32')];
    }
    // P = exp(logits - lse); dV = Pᵀ dO; dS = P ∘ (dO Vᵀ - rowsum(dO ∘ out)); dq = scale dS k; dk = scale dSᵀ q.
    let s = M.matmul(q, k, false, true);
    if (scale !== 1) s = M.mul(s, scale);
    if (causal) s = M.add(s, causalMask(T, S, be));
    if (mask) s = M.add(s, mask);
    const p = M.exp(M.sub(s, M.reshape(lse, [B, H, T, 1])));
    const dv = M.matmul(p, dOut, true, false);
    const dp = M.matmul(dOut, v, false, true);
    const ds = M.mul(p, M.sub(dp, M.sum(M.mul(dOut, out), -1, true)));
    const dsScaled = scale !== 1 ? M.mul(ds, scale) : ds;
    return [M.matmul(dsScaled, k), M.matmul(dsScaled, q, true, false), dv];
  });
  // Outside a recording tape nobody will read lse again.
  if (!out.node) lse.dispose();
  return { out, rowMax };
}

/** [1, 1, T, S] additive causal mask: 0 where j <= i + S - T, CAUSAL_MASKED elsewhere. */
function causalMask(T: number, S: number, backend: Tensor['backend']): Tensor {
  const data = new Float32Array(T * S);
  for (let i = 0; i < T; i++) data.fill(CAUSAL_MASKED, i * S + Math.min(S, i + S - T + 1), (i + 1) * S);
  return M.tensor(data, [1, 1, T, S], 'f32', backend);
}
