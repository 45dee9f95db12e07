import { beforeAll, describe, expect, it } from 'vitest';
import { KarakoramError, noGrad, ops, tidy, valueAndGrads, vjp, type Backend, type Tensor } from '../src/index.js';
import { useCpu } from './cpu.js';

let be: Backend;
beforeAll(async () => {
  be = await useCpu();
});

/** mulberry32, for reproducible data. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randn = (r: () => number, n: number, scale: number): Float64Array => Float64Array.from({ length: n }, () => Math.fround((r() * 2 - 1) * scale));

const [N, D, H, C] = [4, 3, 5, 3];

/** The same MLP in float64 plain JS: tanh(x W1ᵀ + b1) W2ᵀ + b2, cross-entropy, plus 0.1 mean(W1²). */
function mlpLoss(x: Float64Array, w1: Float64Array, b1: Float64Array, w2: Float64Array, b2: Float64Array, y: readonly number[]): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    const h = new Array<number>(H);
    for (let j = 0; j < H; j++) {
      let s = b1[j]!;
      for (let d = 0; d < D; d++) s += x[n * D + d]! * w1[j * D + d]!;
      h[j] = Math.tanh(s);
    }
    const logits = new Array<number>(C);
    for (let c = 0; c < C; c++) {
      let s = b2[c]!;
      for (let j = 0; j < H; j++) s += h[j]! * w2[c * H + j]!;
      logits[c] = s;
    }
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((a, v) => a + Math.exp(v - m), 0));
    total += lse - logits[y[n]!]!;
  }
  const reg = w1.reduce((a, v) => a + v * v, 0) / w1.length;
  return total / N + 0.1 * reg;
}

describe('valueAndGrads', () => {
  it('a small MLP matches central finite differences', () => {
    const r = rng(1234);
    const data = { x: randn(r, N * D, 1), w1: randn(r, H * D, 0.8), b1: randn(r, H, 0.3), w2: randn(r, C * H, 0.8), b2: randn(r, C, 0.3) };
    const y = [0, 2, 1, 2];
    const shapes = { x: [N, D], w1: [H, D], b1: [H], w2: [C, H], b2: [C] } as const;
    const names = ['x', 'w1', 'b1', 'w2', 'b2'] as const;
    const before = be.memory().buffers;
    const ts = names.map((k) => ops.tensor(Float32Array.from(data[k]), shapes[k]));
    const targets = ops.tensor(y, [N], 'i32');
    const { value, grads } = valueAndGrads(() => {
      const h = ops.tanh(ops.linear(ts[0]!, ts[1]!, ts[2]!));
      const logits = ops.linear(h, ts[3]!, ts[4]!);
      return ops.add(ops.crossEntropy(logits, targets), ops.mul(ops.mean(ops.square(ts[1]!)), 0.1));
    }, ts);
    const f = (over: Partial<Record<(typeof names)[number], Float64Array>>): number => {
      const d = { ...data, ...over };
      return mlpLoss(d.x, d.w1, d.b1, d.w2, d.b2, y);
    };
    expect(value.dataSync()[0]).toBeCloseTo(f({}), 5);
    const eps = 1e-5;
    names.forEach((k, i) => {
      const g = grads[i]!.dataSync();
      expect([...grads[i]!.shape]).toEqual([...shapes[k]]);
      for (let j = 0; j < data[k].length; j++) {
        const p = Float64Array.from(data[k]);
        const m = Float64Array.from(data[k]);
        p[j]! += eps;
        m[j]! -= eps;
        const fd = (f({ [k]: p }) - f({ [k]: m })) / (2 * eps);
        expect(Math.abs(g[j]! - fd), `d loss / d ${k}[${j}]: ${g[j]} vs ${fd}`).toBeLessThan(1e-5 + 1e-4 * Math.abs(fd));
      }
    });
    // Only the value and the gradients survived; inputs stay as they were.
    expect(be.memory().buffers).toBe(before + ts.length + 1 + 1 + grads.length);
    for (const t of [...ts, targets, value, ...grads]) t.dispose();
    expect(be.memory().buffers).toBe(before);
  });

  it('an input with no path to the loss gets zeros; one used twice accumulates', () => {
    tidy(() => {
      const a = ops.tensor([1, 2, 3]);
      const unused = ops.tensor([[5, 6]]);
      const { grads } = valueAndGrads(() => ops.sum(ops.mul(a, a)), [a, unused]);
      expect(Array.from(grads[0]!.dataSync())).toEqual([2, 4, 6]);
      expect(grads[1]!.arraySync()).toEqual([[0, 0]]);
    });
  });

  it('accepts { loss } objects and returns the other fields', () => {
    tidy(() => {
      const a = ops.tensor([1, 2]);
      const { value, grads } = valueAndGrads(() => {
        const y = ops.square(a);
        return { loss: ops.sum(y), y };
      }, [a]);
      expect(Array.from(value.y.dataSync())).toEqual([1, 4]);
      expect(Array.from(grads[0]!.dataSync())).toEqual([2, 4]);
    });
  });

  it('refuses a non-scalar loss, naming its shape', () => {
    const before = be.memory().buffers;
    const a = ops.tensor([1, 2]);
    expect(() => valueAndGrads(() => ops.square(a), [a])).toThrow(KarakoramError);
    expect(() => valueAndGrads(() => ops.square(a), [a])).toThrow(/scalar.*\[2\]/);
    a.dispose();
    expect(be.memory().buffers).toBe(before);
    // The watched flag is restored even after the failure.
    expect(a.watched).toBe(false);
  });

  it('leaves no tape behind: a second call is independent of the first', () => {
    tidy(() => {
      const a = ops.tensor([3]);
      const first = valueAndGrads(() => ops.sum(ops.mul(a, a)), [a]);
      const second = valueAndGrads(() => ops.sum(ops.mul(a, 4)), [a]);
      expect(first.grads[0]!.dataSync()[0]).toBe(6);
      expect(second.grads[0]!.dataSync()[0]).toBe(4);
      expect(first.value.node).toBeUndefined();
    });
  });

  it('noGrad records nothing', () => {
    tidy(() => {
      const a = ops.tensor([1, 2]);
      const { grads } = valueAndGrads(() => ops.add(ops.sum(ops.mul(a, 3)), noGrad(() => ops.sum(ops.mul(a, 100)))), [a]);
      expect(Array.from(grads[0]!.dataSync())).toEqual([3, 3]);
    });
  });

  it('stopGradient cuts the path', () => {
    tidy(() => {
      const a = ops.tensor([1, 2]);
      const { grads } = valueAndGrads(() => ops.sum(ops.mul(a, ops.stopGradient(a))), [a]);
      expect(Array.from(grads[0]!.dataSync())).toEqual([1, 2]);
    });
  });
});

describe('vjp', () => {
  it('is dy · J of a tensor-valued function', () => {
    tidy(() => {
      const w = ops.tensor([[1, 2], [3, 4], [5, 6]]); // [3, 2]
      const x = ops.tensor([[1, -1]]); // [1, 2]
      const dy = ops.tensor([[1, 10, 100]]); // [1, 3]
      const { value, grads } = vjp(() => ops.linear(x, w), [x, w], dy);
      expect(value.arraySync()).toEqual([[-1, -1, -1]]);
      // d/dx = dy · W = [1+30+500, 2+40+600]; d/dW = dyᵀ x.
      expect(grads[0]!.arraySync()).toEqual([[531, 642]]);
      expect(grads[1]!.arraySync()).toEqual([[1, -1], [10, -10], [100, -100]]);
      expect(w.watched || x.watched).toBe(false);
    });
  });
});

describe('tensor reading', () => {
  it('array(), item() and toString()', async () => {
    const t = ops.tensor([[1, 2], [3, 4]]);
    expect(await t.array()).toEqual([[1, 2], [3, 4]]);
    await expect(t.item()).rejects.toThrow(/one element/);
    expect(String(t)).toBe('Tensor(f32[2, 2] on cpu)');
    const s = ops.sum(t);
    expect(await s.item()).toBe(10);
    t.dispose();
    s.dispose();
  });

  it('tensor() refuses values that do not fill the shape', () => {
    expect(() => ops.tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
  });
});

export type { Tensor };
