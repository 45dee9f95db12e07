import { describe, expect, it } from 'vitest';
import { ops, tidy, valueAndGrads, type Backend, type DType, type Tensor } from '@karakoram/core';
import * as R from './ref.js';
import { Rng, hashString } from './prng.js';

export interface Tolerance {
  /** Forward results: |got - want| <= atol + rtol * |want|. */
  atol: number;
  rtol: number;
  /** Gradients against finite differences: |g - fd| <= gradAtol * max(1, max|fd|) + gradRtol * |fd|. */
  gradAtol: number;
  gradRtol: number;
  /** Normal draws against core's normalAt (absolute). */
  normal: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-5, gradAtol: 1e-4, gradRtol: 1e-3, normal: 1e-6 };

export interface Got extends R.Arr {
  readonly dtype: DType;
}

/** What each section of the suite gets: test registration, data, comparison and reading helpers. */
export class Ctx {
  private prefix: string[] = [];
  readonly skipHits = new Set<string>();
  /** Set in beforeAll. */
  backend!: Backend;

  constructor(readonly tol: Tolerance, private readonly skip: readonly string[]) {}

  section(name: string, body: () => void): void {
    describe(name, () => {
      this.prefix.push(name);
      try {
        body();
      } finally {
        this.prefix.pop();
      }
    });
  }

  /** Registers one test; its id (section/name) is what ConformanceOptions.skip matches. */
  test(name: string, fn: (rng: Rng) => Promise<void> | void): void {
    const id = [...this.prefix, name].join('/');
    const hit = this.skip.find((s) => id === s || id.startsWith(s.endsWith('/') ? s : `${s}/`));
    if (hit !== undefined) {
      this.skipHits.add(hit);
      it.skip(name, () => {});
      return;
    }
    it(name, async () => {
      await fn(new Rng(hashString(id)));
    });
  }

  // -- tensors ---------------------------------------------------------------------------

  T(a: R.Arr, dtype: DType = 'f32'): Tensor {
    const data = dtype === 'f32' ? Float32Array.from(a.data) : Int32Array.from(a.data);
    return ops.tensor(data, a.shape, dtype, this.backend);
  }

  async read(t: Tensor): Promise<Got> {
    const d = await t.data();
    expect(d.length, `${t.toString()}: read ${d.length} values`).toBe(t.size);
    return { shape: [...t.shape], data: Float64Array.from(d), dtype: t.dtype };
  }

  /** Runs fn in tidy, reads its results, frees them. */
  async run(fn: () => Tensor | readonly Tensor[]): Promise<Got[]> {
    const r = tidy(fn);
    const outs: readonly Tensor[] = Array.isArray(r) ? r : [r as Tensor];
    try {
      const res: Got[] = [];
      for (const o of outs) res.push(await this.read(o));
      return res;
    } finally {
      for (const o of outs) o.dispose();
    }
  }

  async run1(fn: () => Tensor): Promise<Got> {
    return (await this.run(fn))[0]!;
  }

  // -- comparisons -----------------------------------------------------------------------

  close(got: R.Arr, want: R.Arr, what: string, atol = this.tol.atol, rtol = this.tol.rtol): void {
    expect([...got.shape], `${what}: shape`).toEqual([...want.shape]);
    const examples: string[] = [];
    let bad = 0;
    let worst = 0;
    for (let i = 0; i < want.data.length; i++) {
      const g = got.data[i]!;
      const w = want.data[i]!;
      const err = Math.abs(g - w);
      const ok = g === w || (Number.isNaN(g) && Number.isNaN(w)) || err <= atol + rtol * Math.abs(w);
      if (!ok) {
        bad++;
        worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
        if (examples.length < 4) examples.push(`at [${R.unravel(i, want.shape).join(', ')}] got ${g}, want ${w}`);
      }
    }
    expect(bad, `${what}: ${bad} of ${want.data.length} values off (atol ${atol}, rtol ${rtol}, worst ${worst}); ${examples.join('; ')}`).toBe(0);
  }

  exact(got: R.Arr, want: R.Arr, what: string): void {
    this.close(got, want, what, 0, 0);
  }

  dtype(got: Got, dtype: DType, what: string): void {
    expect(got.dtype, `${what}: dtype`).toBe(dtype);
  }

  // -- gradients -------------------------------------------------------------------------

  /**
   * Checks the gradient of L = sum(w * f(x...)) for a random w: core's valueAndGrads on the
   * backend (f32) against central differences of the same L on the float64 reference.
   * The forward value f(x...) is checked against the reference too.
   */
  async gradCheck(
    rng: Rng,
    inputs: readonly R.Arr[],
    f: (...xs: Tensor[]) => Tensor,
    ref: (...xs: R.Arr[]) => R.Arr,
    what: string,
    eps = 1e-4,
  ): Promise<void> {
    const y0 = ref(...inputs);
    const w = rng.arr(y0.shape, -1, 1);
    const L = (xs: R.Arr[]): number => R.dot(w, ref(...xs));
    const outs = await this.run(() => {
      const ts = inputs.map((a) => this.T(a));
      const { value, grads } = valueAndGrads(() => {
        const y = f(...ts);
        return { loss: ops.sum(ops.mul(y, this.T(w))), y };
      }, ts);
      return [value.y, value.loss, ...grads];
    });
    const [y, loss, ...grads] = outs as [Got, Got, ...Got[]];
    this.close(y, y0, `${what}: forward`, this.tol.atol * 10, this.tol.rtol * 10);
    this.close(loss, R.scalar(R.dot(w, y0)), `${what}: loss`, this.tol.atol * 10 * Math.max(1, w.data.length), this.tol.rtol * 10);
    inputs.forEach((x, k) => {
      const fd = new Float64Array(x.data.length);
      for (let j = 0; j < x.data.length; j++) {
        const plus = Float64Array.from(x.data);
        const minus = Float64Array.from(x.data);
        plus[j]! += eps;
        minus[j]! -= eps;
        const xsP = inputs.map((a, i) => (i === k ? { shape: a.shape, data: plus } : a));
        const xsM = inputs.map((a, i) => (i === k ? { shape: a.shape, data: minus } : a));
        fd[j] = (L(xsP) - L(xsM)) / (2 * eps);
      }
      const scale = Math.max(1, ...Array.from(fd, Math.abs));
      this.close(grads[k]!, { shape: x.shape, data: fd }, `${what}: gradient of input ${k} ${R.fmt(x.shape)}`, this.tol.gradAtol * scale, this.tol.gradRtol);
    });
  }
}
