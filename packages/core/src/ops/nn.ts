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
  return record('softmax', [x], y, (dy) => [M.mul(y, M.sub(dy, M.sum(M.mul(dy, y), -1, true)))]);
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
  return record('logSoftmax', [x], y, (dy) => [M.sub(dy, M.mul(M.exp(y), M.sum(dy, -1, true)))]);
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
