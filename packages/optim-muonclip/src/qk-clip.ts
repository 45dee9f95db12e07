import { KarakoramError, fmtShape, isQkClipTarget, noGrad, ops, tidy, type Module, type QkClipTarget, type Tensor } from '@karakoram/core';

/** A QK-Clip target with the module name used in logs. */
export interface NamedQkClipTarget {
  /** The module's dotted name ('model.layers.3.self_attn'), '' for a root module. */
  name: string;
  target: QkClipTarget;
}

/** One clipped head. */
export interface QkClipHeadLog {
  head: number;
  /** S_max^h of the step's forward pass (softmax scale included). */
  maxLogit: number;
  /** tau / S_max^h: its logits are scaled by this much. */
  gamma: number;
}

/** One attention layer in a step. */
export interface QkClipLayerLog {
  name: string;
  /** Max over heads of S_max^h; undefined when the layer recorded no forward pass since the last step. */
  maxLogit: number | undefined;
  /** S_max per head (a copy), or undefined as above. */
  maxLogits: Float32Array | undefined;
  /** Heads with S_max^h > tau. When clipping is off they are listed but not scaled. */
  clipped: QkClipHeadLog[];
}

/** Every QkClipTarget in a module tree, named by its dotted module path. */
export function findQkClipTargets(model: Module): NamedQkClipTarget[] {
  const out: NamedQkClipTarget[] = [];
  for (const [name, m] of model.modules()) if (isQkClipTarget(m)) out.push({ name, target: m });
  return out;
}

/** A target's per-head max logits, read synchronously (lastMaxLogits()). */
export function readMaxLogitsSync(t: QkClipTarget): Float32Array | undefined {
  const v = t.lastMaxLogits();
  return v ? Float32Array.from(v) : undefined;
}

/**
 * The same, for backends without synchronous reads: a target that also exposes
 * `lastMaxLogitsTensor()` (the layer-mla layers do) is read with `await tensor.data()`.
 */
export async function readMaxLogits(t: QkClipTarget): Promise<Float32Array | undefined> {
  const withTensor = t as QkClipTarget & { lastMaxLogitsTensor?: () => Tensor | undefined };
  if (typeof withTensor.lastMaxLogitsTensor === 'function') {
    const tensor = withTensor.lastMaxLogitsTensor();
    return tensor ? Float32Array.from(await tensor.data()) : undefined;
  }
  return readMaxLogitsSync(t);
}

/**
 * QK-Clip of one step (K2-FACTS § QK-Clip): for every head with S_max^h > tau, gamma = tau / S_max^h;
 * the head's `sqrtGamma` rows (MLA q_nope and k_nope; plain MHA W_q and W_k) are multiplied by
 * sqrt(gamma) and its `gamma` rows (MLA q_rope) by gamma. Nothing else is touched: rows of a
 * parameter that no clipped head owns are multiplied by exactly 1, so they keep every bit.
 *
 * Each touched parameter gets one multiply by a per-row scale vector (core ops only; any backend).
 * Factors are computed in float64 and rounded once to f32. `maxLogits` holds one entry per target
 * (from readMaxLogitsSync / readMaxLogits). With `clip: false` only the log is produced.
 */
export function applyQkClip(targets: readonly NamedQkClipTarget[], maxLogits: readonly (Float32Array | undefined)[], tau: number, clip = true): QkClipLayerLog[] {
  if (!(tau > 0) || !Number.isFinite(tau)) throw new KarakoramError('args', `tau must be a finite number > 0, got ${tau}`, 'applyQkClip');
  if (maxLogits.length !== targets.length) throw new KarakoramError('args', `${maxLogits.length} max-logit arrays for ${targets.length} targets`, 'applyQkClip');
  const logs: QkClipLayerLog[] = [];
  const scales = new Map<Tensor, { rows: Float64Array; names: Set<string> }>();
  targets.forEach(({ name, target }, i) => {
    const s = maxLogits[i];
    if (!s) {
      logs.push({ name, maxLogit: undefined, maxLogits: undefined, clipped: [] });
      return;
    }
    if (s.length !== target.numHeads) throw new KarakoramError('args', `${name || 'target'} reported ${s.length} max logits for ${target.numHeads} heads`, 'applyQkClip');
    let maxLogit = -Infinity;
    const clipped: QkClipHeadLog[] = [];
    for (let h = 0; h < s.length; h++) {
      const sh = s[h]!;
      if (Number.isNaN(sh) || Number.isNaN(maxLogit)) maxLogit = NaN;
      else if (sh > maxLogit) maxLogit = sh;
      if (!(sh > tau)) continue; // NaN is never clipped (and shows in the log's maxLogit)
      const gamma = tau / sh;
      clipped.push({ head: h, maxLogit: sh, gamma });
      if (!clip) continue;
      const rows = target.headRows(h);
      const scaleRows = (ranges: typeof rows.sqrtGamma, factor: number): void => {
        for (const r of ranges) {
          const p = r.param;
          if (p.rank !== 2) throw new KarakoramError('args', `${name}.${r.name} is ${fmtShape(p.shape)}; QK-Clip rows need a weight stored [out, in]`, 'applyQkClip');
          const n = p.shape[0]!;
          if (!(Number.isInteger(r.start) && Number.isInteger(r.end) && 0 <= r.start && r.start < r.end && r.end <= n)) {
            throw new KarakoramError('args', `rows [${r.start}, ${r.end}) of ${name}.${r.name} are outside [0, ${n})`, 'applyQkClip');
          }
          let e = scales.get(p);
          if (!e) scales.set(p, (e = { rows: new Float64Array(n).fill(1), names: new Set() }));
          e.names.add(r.name);
          for (let k = r.start; k < r.end; k++) e.rows[k]! *= factor;
        }
      };
      scaleRows(rows.sqrtGamma, Math.sqrt(gamma));
      scaleRows(rows.gamma, gamma);
    }
    logs.push({ name, maxLogit, maxLogits: Float32Array.from(s), clipped });
  });
  noGrad(() => {
    for (const [p, { rows }] of scales) {
      tidy(() => {
        const v = ops.tensor(Float32Array.from(rows), [rows.length, 1], 'f32', p.backend);
        p.assign(ops.mul(p, v));
      });
    }
  });
  return logs;
}
