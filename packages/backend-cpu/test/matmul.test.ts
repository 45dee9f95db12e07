import { describe, expect, it } from 'vitest';
import { createCpuBackend, createWasmMatmul, type MatmulKernel } from '../src/index.js';
import { randomF32 as rand } from '@karakoram/backend-conformance';

/** float64 reference of op(A) @ op(B), A stored [m,k] or [k,m], B stored [k,n] or [n,k]. */
function reference(a: Float32Array, b: Float32Array, m: number, n: number, k: number, ta: boolean, tb: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ta ? p * m + i : i * k + p]! * b[tb ? j * k + p : p * n + j]!;
      c[i * n + j] = s;
    }
  }
  return c;
}

function check(kernel: MatmulKernel, m: number, n: number, k: number, ta: boolean, tb: boolean, seed: number): void {
  const a = rand(m * k, seed);
  const b = rand(k * n, seed + 7919);
  // Poisoned output: the kernel must overwrite every element, including for k = 0.
  const c = new Float32Array(m * n).fill(Number.NaN);
  kernel(a, b, c, m, n, k, ta, tb);
  const r = reference(a, b, m, n, k, ta, tb);
  // Values are O(sqrt(k)); f32 accumulation error grows about like sqrt(k) times that.
  const tol = 1e-5 * Math.max(1, Math.sqrt(k)) * Math.max(1, Math.sqrt(k));
  let worst = 0;
  for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(c[i]! - r[i]!));
  if (!(worst <= tol)) throw new Error(`m=${m} n=${n} k=${k} transA=${ta} transB=${tb}: max error ${worst} > ${tol}`);
}

const SIZES = [1, 2, 3, 5, 7, 8, 16, 17, 31, 64, 100, 129];
const TRANS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

describe.each([1, 2])('wasm matmul, %i thread(s)', (threads) => {
  const ready = createWasmMatmul({ threads });

  it('is available here (Node 20 has wasm SIMD)', async () => {
    const w = await ready;
    expect(w).toBeDefined();
    expect(w!.threads).toBe(threads);
  });

  it.each(TRANS)('all small shapes, transA=%s transB=%s', async (ta, tb) => {
    const w = (await ready)!;
    let seed = 1;
    for (const m of SIZES) for (const n of SIZES) for (const k of SIZES) check(w.kernel, m, n, k, ta, tb, seed++);
  });

  it('k = 0 gives zeros', async () => {
    const w = (await ready)!;
    for (const [ta, tb] of TRANS) {
      const c = new Float32Array(6).fill(Number.NaN);
      w.kernel(new Float32Array(0), new Float32Array(0), c, 2, 3, 0, ta, tb);
      expect(Array.from(c)).toEqual([0, 0, 0, 0, 0, 0]);
    }
  });

  it.each(TRANS)('512x512x512, transA=%s transB=%s', async (ta, tb) => {
    check((await ready)!.kernel, 512, 512, 512, ta, tb, 42);
  });

  it('batched calls (shared or per-item A and B) give each item the single call\'s bits', async () => {
    const w = (await ready)!;
    for (const [m, n, k, batch] of [[40, 72, 36, 5], [130, 66, 140, 3], [8, 8, 8, 4], [260, 130, 300, 2]] as const) {
      for (const [ta, tb] of TRANS) {
        for (const [shareA, shareB] of [[false, false], [true, false], [false, true]] as const) {
          const a = rand((shareA ? 1 : batch) * m * k, m + batch);
          const b = rand((shareB ? 1 : batch) * k * n, n + batch);
          const c = new Float32Array(batch * m * n).fill(Number.NaN);
          w.kernel(a, b, c, m, n, k, ta, tb, batch, shareA ? 0 : m * k, shareB ? 0 : k * n);
          for (let i = 0; i < batch; i++) {
            const ai = shareA ? 0 : i, bi = shareB ? 0 : i;
            const one = new Float32Array(m * n);
            w.kernel(a.subarray(ai * m * k, (ai + 1) * m * k), b.subarray(bi * k * n, (bi + 1) * k * n), one, m, n, k, ta, tb);
            expect(Array.from(c.subarray(i * m * n, (i + 1) * m * n)), `${m}x${n}x${k} item ${i} ta=${ta} tb=${tb} shared ${shareA}/${shareB}`).toEqual(Array.from(one));
          }
        }
      }
    }
  });

  it('tall, wide and long shapes across block edges', async () => {
    const w = (await ready)!;
    // 32x40x1640 on two threads: more column blocks than panels left an empty last block.
    for (const [m, n, k] of [[1, 1000, 700], [700, 1, 300], [300, 257, 513], [9, 600, 1030], [257, 3, 1], [32, 40, 1640], [130, 3, 9000]] as const) {
      for (const [ta, tb] of TRANS) check(w.kernel, m, n, k, ta, tb, m + n + k);
    }
  });
});

describe('cpu backend matmul', () => {
  it('batch broadcast through the backend', async () => {
    const be = await createCpuBackend();
    const m = 33, n = 17, k = 65;
    for (const [ba, bb] of [[3, 1], [1, 3], [3, 3]] as const) {
      for (const [ta, tb] of TRANS) {
        const A = rand(ba * m * k, ba * 10 + bb);
        const B = rand(bb * k * n, bb * 100 + ba);
        const a = { storage: be.upload(A, 'f32'), shape: ta ? [ba, k, m] : [ba, m, k], dtype: 'f32' as const };
        const b = { storage: be.upload(B, 'f32'), shape: tb ? [bb, n, k] : [bb, k, n], dtype: 'f32' as const };
        const out = be.matmul(a, b, ta, tb);
        const C = be.readSync({ storage: out, shape: [3, m, n], dtype: 'f32' });
        for (let i = 0; i < 3; i++) {
          const ai = ba === 1 ? 0 : i;
          const bi = bb === 1 ? 0 : i;
          const r = reference(A.subarray(ai * m * k, (ai + 1) * m * k), B.subarray(bi * k * n, (bi + 1) * k * n), m, n, k, ta, tb);
          for (let j = 0; j < m * n; j++) expect(Math.abs(C[i * m * n + j]! - r[j]!)).toBeLessThan(1e-4);
        }
      }
    }
  });
});
