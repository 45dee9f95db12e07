// Fused attention over more heads than fit one batched GEMM call (the kernel then works in
// groups of heads): forward and gradients against the composite path on the same backend.
import { describe, expect, it } from 'vitest';
import { ops, setBackend, tidy, valueAndGrads, type Backend } from '@karakoram/core';
import { createCpuBackend } from '../src/index.js';
import { randomF32 as rand } from '@karakoram/backend-conformance';

describe('cpu fused attention in head groups', () => {
  it('matches the composite at T = S = 1200 over 2 x 2 heads (4 blocks of 1.44M floats: groups of 2)', async () => {
    const fused = await createCpuBackend();
    const plain = await createCpuBackend();
    (plain as { fused?: unknown }).fused = { ...plain.fused, attention: undefined, attentionBackward: undefined };
    const [B, H, T, D] = [2, 2, 1200, 8];
    const q = rand(B * H * T * D, 1), k = rand(B * H * T * D, 2), v = rand(B * H * T * D, 3), w = rand(B * H * T * D, 4);
    const run = (be: Backend): Float32Array[] => {
      setBackend(be);
      return tidy(() => {
        const [tq, tk, tv, tw] = [q, k, v, w].map((x) => ops.tensor(x, [B, H, T, D]));
        const { value, grads } = valueAndGrads(() => {
          const { out } = ops.attention(tq!, tk!, tv!, { scale: 0.5, causal: true });
          return ops.sum(ops.mul(out, tw!));
        }, [tq!, tk!, tv!]);
        return [value.dataSync() as Float32Array, ...grads.map((g) => g.dataSync() as Float32Array)];
      });
    };
    const want = run(plain);
    const got = run(fused);
    want.forEach((wv, i) => {
      let worst = 0, scale = 0;
      for (let j = 0; j < wv.length; j++) { worst = Math.max(worst, Math.abs(got[i]![j]! - wv[j]!)); scale = Math.max(scale, Math.abs(wv[j]!)); }
      expect(worst / Math.max(scale, 1e-6), ['value', 'dq', 'dk', 'dv'][i]).toBeLessThan(1e-4);
    });
  });
});
