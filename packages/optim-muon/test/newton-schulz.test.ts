import { beforeAll, describe, expect, it } from 'vitest';
import { ops, setBackend, getBackend, tidy } from '@karakoram/core';
import { createCpuBackend } from '@karakoram/backend-cpu';
import { newtonSchulz5, roundToBf16 } from '../src/index.js';
import { bf16Bits, maxRelErr, ns5Ref, randMat, rng } from './ref.js';

beforeAll(async () => {
  setBackend(await createCpuBackend());
});

const flat = (m: number[][]): number[] => m.flat();

describe('newtonSchulz5 (f32)', () => {
  const shapes: [number, number][] = [
    [4, 4],
    [3, 7], // wide
    [9, 4], // tall: transposed inside
    [16, 48],
    [64, 16],
    [1, 5],
    [6, 1],
  ];
  for (const [r, c] of shapes) {
    it(`matches a float64 reference on [${r}, ${c}]`, () => {
      const G = randMat(r, c, 17 * r + c, 0.3);
      const want = flat(ns5Ref(G));
      const got = tidy(() => newtonSchulz5(ops.tensor(G)).dataSync());
      expect(got.length).toBe(r * c);
      expect(maxRelErr(got, want)).toBeLessThan(1e-4);
    });
  }

  it('orthogonalizes: singular values land near 1 (X Xᵀ close to I on the short side)', () => {
    const got = tidy(() => {
      const O = newtonSchulz5(ops.tensor(randMat(8, 32, 5)));
      return ops.matmul(O, O, false, true).arraySync() as number[][];
    });
    for (let i = 0; i < 8; i++) expect(got[i]![i]!).toBeGreaterThan(0.4);
    for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) if (i !== j) expect(Math.abs(got[i]![j]!)).toBeLessThan(0.3);
  });

  it('treats leading dims as a batch of independent matrices (stacked experts)', () => {
    const mats = [randMat(5, 3, 1), randMat(5, 3, 2, 10), randMat(5, 3, 3, 0.01)];
    const got = tidy(() => newtonSchulz5(ops.tensor(mats.flat(2), [3, 5, 3])).dataSync());
    const want = mats.flatMap((m) => flat(ns5Ref(m)));
    expect(maxRelErr(got, want)).toBeLessThan(1e-4);
  });

  it('honours steps and refuses vectors', () => {
    const G = randMat(4, 6, 9);
    const got = tidy(() => newtonSchulz5(ops.tensor(G), { steps: 2 }).dataSync());
    expect(maxRelErr(got, flat(ns5Ref(G, 2)))).toBeLessThan(1e-4);
    expect(maxRelErr(got, flat(ns5Ref(G, 5)))).toBeGreaterThan(1e-3);
    expect(() => newtonSchulz5(ops.tensor([1, 2, 3]))).toThrow(/rank >= 2/);
  });

  it("gives the composite's bits through the cpu backend's fused kernel (wide, tall, stacked)", async () => {
    const fusedBe = getBackend();
    expect(fusedBe.fused?.newtonSchulz).toBeTypeOf('function');
    const plain = await createCpuBackend();
    (plain.fused as { newtonSchulz?: unknown }).newtonSchulz = undefined;
    for (const [shape, seed] of [[[40, 72], 1], [[72, 40], 2], [[3, 24, 20], 3], [[2, 1, 9], 4]] as const) {
      const vals = randMat(shape.slice(0, -1).reduce((p, d) => p * d, 1), shape[shape.length - 1]!, seed).flat();
      const run = (be: typeof plain): Float32Array => {
        setBackend(be);
        return tidy(() => newtonSchulz5(ops.tensor(vals, [...shape])).dataSync() as Float32Array);
      };
      const composite = run(plain);
      const fused = run(fusedBe);
      setBackend(fusedBe);
      expect(Array.from(fused), `shape [${shape.join(', ')}]`).toEqual(Array.from(composite));
    }
    // And the composite itself still matches the float64 reference.
    setBackend(plain);
    const G = randMat(9, 4, 11);
    const got = tidy(() => newtonSchulz5(ops.tensor(G)).dataSync());
    setBackend(fusedBe);
    expect(maxRelErr(got, flat(ns5Ref(G)))).toBeLessThan(1e-4);
  });

  it('frees every intermediate', () => {
    const be = getBackend();
    const x = ops.tensor(randMat(12, 20, 4));
    const before = be.memory().buffers;
    const y = newtonSchulz5(x, { dtype: 'bf16' });
    expect(be.memory().buffers).toBe(before + 1);
    y.dispose();
    x.dispose();
  });
});

describe('roundToBf16', () => {
  it('is bit-identical to round-to-nearest-even through the bit pattern', () => {
    const r = rng(123);
    const n = 200_000;
    const vals = new Float32Array(n + 12);
    const u32 = new Uint32Array(vals.buffer);
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) {
        vals[i] = r() * 2 ** Math.floor((r() + 1) * 150 - 150); // every binade, subnormals included
      } else {
        // Random high bits with the low 16 bits on a tie (0x8000), just around it, or random.
        const hi = Math.floor(((r() + 1) / 2) * 0xff7f) << 16;
        const lo = [0x8000, 0x7fff, 0x8001, 0x0000, Math.floor(((r() + 1) / 2) * 0xffff)][i % 5]!;
        u32[i] = (hi | lo) >>> 0;
      }
    }
    vals.set([0, -0, Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, -1.401298464324817e-45, 1, -1, 2 ** -126, 1 + 2 ** -8], n);
    const got = tidy(() => roundToBf16(ops.tensor(vals)).dataSync() as Float32Array);
    let bad = 0;
    let first = '';
    for (let i = 0; i < vals.length; i++) {
      const want = bf16Bits(vals[i]!);
      if (!Object.is(got[i], want)) {
        if (!first) first = `${vals[i]} -> ${got[i]}, want ${want}`;
        bad++;
      }
    }
    expect(first).toBe('');
    expect(bad).toBe(0);
    // And the values really change (ties go to even: 1 + 2^-8 is a tie and rounds down to 1).
    expect(got[n + 11]).toBe(1);
  });
});

describe('newtonSchulz5 (bf16 emulation)', () => {
  it('returns bf16 values close to the float64 result, unlike an unrounded run', () => {
    const G = randMat(12, 20, 77);
    const want = flat(ns5Ref(G));
    const got = tidy(() => newtonSchulz5(ops.tensor(G), { dtype: 'bf16' }).dataSync());
    const f32 = tidy(() => newtonSchulz5(ops.tensor(G)).dataSync());
    for (const v of got) expect(Object.is(v, bf16Bits(v))).toBe(true);
    expect(maxRelErr(got, want)).toBeLessThan(0.05);
    expect(maxRelErr(got, f32)).toBeGreaterThan(1e-4);
  });
});
