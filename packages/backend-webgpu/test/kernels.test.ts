/**
 * The kernel variants the conformance suite cannot pick on its own: every matmul variant on
 * every transpose, aligned and not, with batch broadcast; scatterAdd bit-exact with the cpu
 * backend; the fused attention and row-gradient kernels against the cpu backend's (vec4 and
 * scalar rows; accumulators in registers, private arrays and the outputs); the autotuner's
 * cache; no adapter -> a clear error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops, valueAndGrads, type Backend, type FusedAttentionOptions, type Storage, type Tensor } from '@karakoram/core';
import { CpuBackend } from '@karakoram/backend-cpu';
import { randomF32 as rand, reference as R } from '@karakoram/backend-conformance';
import { WebGpuBackend, WebGpuStorage, createWebGpuBackend, type MatmulVariant } from '../src/index.js';
import { withAdapter } from './adapter.js';

withAdapter('webgpu kernels', () => {
  let gpu: WebGpuBackend;
  const cpu = new CpuBackend();
  beforeAll(async () => {
    // 'fused': the attention kernels run at every head dim, even where 'auto' declines them.
    gpu = await createWebGpuBackend({ attention: 'fused' });
  });
  afterAll(async () => {
    await gpu?.destroy();
  });

  const cases: [number, number, number, number, number][] = [
    // [Ba, Bb, M, K, N]
    [1, 1, 8, 12, 16],
    [2, 2, 36, 20, 44],
    [3, 1, 16, 8, 4],
    [1, 2, 5, 7, 9],
    [2, 2, 33, 17, 35],
    [1, 1, 1, 3, 1],
  ];
  // rb16 needs M % 16, N % 8, K % 4: these cases give it every transpose and a broadcast batch.
  const rb16Cases: [number, number, number, number, number][] = [
    [1, 1, 16, 4, 8],
    [2, 1, 32, 12, 24],
    [1, 3, 48, 20, 16],
  ];
  for (const variant of ['rb16', 'rb4', 'rb', 'tiled'] as MatmulVariant[]) {
    it(`matmul variant ${variant}: every transpose, batch broadcast, aligned and not`, async () => {
      for (const [Ba, Bb, M, K, N] of variant === 'rb16' ? rb16Cases : cases) {
        const aligned = M % 4 === 0 && N % 4 === 0 && K % 4 === 0;
        if (variant === 'rb4' && !aligned) continue;
        for (const tA of [false, true]) {
          for (const tB of [false, true]) {
            const A = rand(Ba * M * K, M * 7 + K);
            const B = rand(Bb * K * N, N * 11 + K);
            const aShape = tA ? [Ba, K, M] : [Ba, M, K];
            const bShape = tB ? [Bb, N, K] : [Bb, K, N];
            const want = cpu.readSync({ storage: cpu.matmul({ storage: cpu.upload(A, 'f32'), shape: aShape, dtype: 'f32' }, { storage: cpu.upload(B, 'f32'), shape: bShape, dtype: 'f32' }, tA, tB), shape: [Math.max(Ba, Bb), M, N], dtype: 'f32' });
            const a = gpu.upload(A, 'f32') as WebGpuStorage;
            const b = gpu.upload(B, 'f32') as WebGpuStorage;
            const c = gpu.upload(new Float32Array(want.length), 'f32') as WebGpuStorage;
            gpu.matmulInto(variant, { batch: Math.max(Ba, Bb), m: M, n: N, k: K, transA: tA, transB: tB, aBatch: Ba === 1 ? 0 : M * K, bBatch: Bb === 1 ? 0 : K * N }, a.buffer, b.buffer, c.buffer);
            const got = await gpu.read({ storage: c, shape: [Math.max(Ba, Bb), M, N], dtype: 'f32' });
            let worst = 0;
            for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
            expect(worst, `${variant} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} [${Ba},${Bb}] ${M}x${K}x${N}`).toBeLessThan(1e-5);
            for (const s of [a, b, c]) gpu.dispose(s);
          }
        }
      }
    });
  }

  it("fused Newton-Schulz matches the cpu backend's (wide, tall, stacked, a zero matrix)", async () => {
    const coeffs = [3.4445, -4.775, 2.0315] as const;
    for (const shape of [[3, 24, 40], [40, 24], [2, 16, 16], [1, 8, 12]]) {
      const n = shape.reduce((p, d) => p * d, 1);
      const x = rand(n, n + shape.length);
      if (shape[0] === 1) x.fill(0);
      const want = cpu.readSync({ storage: cpu.fused.newtonSchulz!({ storage: cpu.upload(x, 'f32'), shape, dtype: 'f32' }, 5, coeffs), shape, dtype: 'f32' });
      const s = gpu.fused.newtonSchulz!({ storage: gpu.upload(x, 'f32'), shape, dtype: 'f32' }, 5, coeffs);
      const got = await gpu.read({ storage: s, shape, dtype: 'f32' });
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst, `[${shape.join(', ')}]`).toBeLessThan(1e-5);
      gpu.dispose(s);
    }
  });

  it('scatterAdd is bit-identical to the cpu backend (same summation order)', async () => {
    const idx = Int32Array.from({ length: 300 }, (_, i) => (i * 7919) % 13);
    const upd = rand(300 * 5, 3);
    const run = async (be: WebGpuBackend | CpuBackend): Promise<Float32Array> => {
      const s = be.scatterAdd([13, 5], { storage: be.upload(idx, 'i32'), shape: [300], dtype: 'i32' }, { storage: be.upload(upd, 'f32'), shape: [300, 5], dtype: 'f32' }, 0);
      return (await be.read({ storage: s, shape: [13, 5], dtype: 'f32' })) as Float32Array;
    };
    expect(Array.from(await run(gpu))).toEqual(Array.from(await run(cpu)));
  });

  it('GPU-computed indices (no host copy) gather correctly', async () => {
    const x = ops.tensor(rand(20, 9), [10, 2], 'f32', gpu);
    const scores = ops.tensor(Float32Array.from([0.1, 0.9, 0.5, 0.7]), [4], 'f32', gpu);
    const top: Tensor = ops.topk(scores, 3).indices; // [1, 3, 2], computed on the GPU
    expect((top.ref.storage as WebGpuStorage).host).toBeUndefined();
    const g = await ops.gather(x, top, 0).data();
    const xs = await x.data();
    expect(Array.from(g)).toEqual([xs[2], xs[3], xs[6], xs[7], xs[4], xs[5]]);
    for (const t of [x, scores, top]) t.dispose();
  });

  /** Worst |got - want| over max(1e-3, max |want|): an error relative to the tensor's scale. */
  function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
    expect(got.length).toBe(want.length);
    let worst = 0;
    let scale = 1e-3;
    for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got[i]! - want[i]!);
      worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
    }
    return worst / scale;
  }

  // Few distinct head dims: every (D, Dv, mask or not) compiles its own pipelines (seconds each
  // on SwiftShader).
  const attnCases: { B: number; H: number; T: number; S: number; D: number; Dv: number; scale: number; causal: boolean; mask?: [number, number] }[] = [
    { B: 2, H: 3, T: 5, S: 9, D: 24, Dv: 40, scale: 0.2, causal: true, mask: [2, 1] },
    { B: 2, H: 2, T: 7, S: 7, D: 40, Dv: 24, scale: 0.15, causal: false, mask: [1, 1] },
    { B: 1, H: 2, T: 6, S: 13, D: 24, Dv: 40, scale: 0.3, causal: false, mask: [1, 2] },
    { B: 2, H: 2, T: 16, S: 16, D: 40, Dv: 24, scale: 0.15, causal: true },
    // K2's head dims: one row per invocation, or loops.
    { B: 1, H: 2, T: 5, S: 7, D: 192, Dv: 128, scale: 0.07, causal: true },
    // Scalar rows (D, Dv not multiples of 4).
    { B: 2, H: 2, T: 4, S: 6, D: 6, Dv: 5, scale: 0.7, causal: true, mask: [2, 1] },
    // Too large for registers: loops, accumulators in private arrays (and dk, dq in the outputs).
    { B: 1, H: 1, T: 2, S: 3, D: 2056, Dv: 12, scale: 0.02, causal: true },
  ];
  for (const c of attnCases) {
    const what = `B${c.B} H${c.H} T${c.T} S${c.S} D${c.D} Dv${c.Dv}${c.causal ? ' causal' : ''}${c.mask ? ` mask [${c.mask}]` : ''}`;
    it(`fused attention forward and backward match the cpu backend: ${what}`, async () => {
      const seed = c.T * 31 + c.S * 7 + c.D;
      const q = rand(c.B * c.H * c.T * c.D, seed);
      const k = rand(c.B * c.H * c.S * c.D, seed + 1);
      const v = rand(c.B * c.H * c.S * c.Dv, seed + 2);
      const dOut = rand(c.B * c.H * c.T * c.Dv, seed + 3);
      const mask = c.mask ? rand(c.mask[0] * c.mask[1] * c.T * c.S, seed + 4).map((x, i) => (i % c.S > 0 && x > 0.6 ? -1e9 : x)) : undefined;
      const run = async (be: Backend): Promise<Record<string, ArrayLike<number>>> => {
        const ref = (data: Float32Array, shape: number[]) => ({ storage: be.upload(data, 'f32'), shape, dtype: 'f32' as const });
        const qr = ref(q, [c.B, c.H, c.T, c.D]);
        const kr = ref(k, [c.B, c.H, c.S, c.D]);
        const vr = ref(v, [c.B, c.H, c.S, c.Dv]);
        const o: FusedAttentionOptions = { scale: c.scale, causal: c.causal, mask: mask ? ref(mask, [c.mask![0], c.mask![1], c.T, c.S]) : undefined };
        const f = be.fused!;
        const fw = f.attention!(qr, kr, vr, o)!;
        const outR = { storage: fw.out, shape: [c.B, c.H, c.T, c.Dv], dtype: 'f32' as const };
        const rows = [c.B, c.H, c.T];
        const bw = f.attentionBackward!(qr, kr, vr, outR, { storage: fw.lse, shape: rows, dtype: 'f32' }, ref(dOut, outR.shape), o);
        const read = (s: Storage, shape: number[]) => be.read({ storage: s, shape, dtype: 'f32' });
        const r = {
          out: await read(fw.out, outR.shape), rowMax: await read(fw.rowMax, rows), lse: await read(fw.lse, rows),
          dq: await read(bw.dq, qr.shape), dk: await read(bw.dk, kr.shape), dv: await read(bw.dv, vr.shape),
        };
        for (const s of [fw.out, fw.rowMax, fw.lse, bw.dq, bw.dk, bw.dv, qr.storage, kr.storage, vr.storage, ...(o.mask ? [o.mask.storage] : [])]) be.dispose(s);
        return r;
      };
      const want = await run(cpu);
      const got = await run(gpu);
      for (const name of Object.keys(want)) expect(relErr(got[name]!, want[name]!), `${what}: ${name}`).toBeLessThan(1e-5);
    });
  }

  it('fused attention rows without a visible key behave like the cpu backend', async () => {
    // Query 1 sees no key (mask -inf everywhere), query 0 only keys 1 and 3; then S = 0.
    const T = 2, D = 4, Dv = 4;
    const mask = Float32Array.from([-Infinity, 0.5, -Infinity, -0.25, -Infinity, -Infinity, -Infinity, -Infinity]);
    for (const S of [4, 0]) {
      const run = async (be: Backend): Promise<number[][]> => {
        const ref = (data: Float32Array, shape: number[]) => ({ storage: be.upload(data, 'f32'), shape, dtype: 'f32' as const });
        const o: FusedAttentionOptions = { scale: 0.5, causal: false, mask: S ? ref(mask, [1, 1, T, S]) : undefined };
        const r = be.fused!.attention!(ref(rand(T * D, 5), [1, 1, T, D]), ref(rand(S * D, 6), [1, 1, S, D]), ref(rand(S * Dv, 7), [1, 1, S, Dv]), o)!;
        return [Array.from(await be.read({ storage: r.out, shape: [T, Dv], dtype: 'f32' })), Array.from(await be.read({ storage: r.rowMax, shape: [T], dtype: 'f32' })), Array.from(await be.read({ storage: r.lse, shape: [T], dtype: 'f32' }))];
      };
      const want = await run(cpu);
      const got = await run(gpu);
      want.forEach((w, k) => w.forEach((x, i) => {
        const g = got[k]![i]!;
        if (Number.isFinite(x)) expect(Math.abs(g - x), `S ${S} output ${k}[${i}]`).toBeLessThan(1e-5 * Math.max(1, Math.abs(x)));
        else expect(g, `S ${S} output ${k}[${i}]`).toBe(x);
      }));
    }
  });

  it("by default a software adapter declines attention at K2's head dims (the composite is faster there), and ops.attention still matches cpu", async () => {
    const auto = await createWebGpuBackend();
    try {
      const [B, H, T, D, Dv] = [1, 2, 6, 192, 128];
      const q = rand(B * H * T * D, 41), k = rand(B * H * T * D, 42), v = rand(B * H * T * Dv, 43);
      const ref = (be: Backend, x: Float32Array, shape: number[]) => ({ storage: be.upload(x, 'f32'), shape, dtype: 'f32' as const });
      const o: FusedAttentionOptions = { scale: 0.07, causal: true };
      const declined = auto.fused.attention!(ref(auto, q, [B, H, T, D]), ref(auto, k, [B, H, T, D]), ref(auto, v, [B, H, T, Dv]), o);
      expect(declined === undefined).toBe(auto.adapterInfo().software);
      // The small dims still run fused.
      expect(auto.fused.attention!(ref(auto, q.subarray(0, 48 * 12), [1, 1, 12, 48]), ref(auto, k.subarray(0, 48 * 12), [1, 1, 12, 48]), ref(auto, v.subarray(0, 32 * 12), [1, 1, 12, 32]), o)).toBeDefined();
      const outOf = async (be: Backend): Promise<Float32Array> => {
        const t = (x: Float32Array, shape: number[]) => ops.tensor(x, shape, 'f32', be);
        const { out } = ops.attention(t(q, [B, H, T, D]), t(k, [B, H, T, D]), t(v, [B, H, T, Dv]), { scale: 0.07, causal: true });
        return (await out.data()) as Float32Array;
      };
      const [got, want] = [await outOf(auto), await outOf(cpu)];
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst).toBeLessThan(1e-5);
    } finally {
      await auto.destroy();
    }
  });

  it('fused attention gradients through ops.attention and valueAndGrads match finite differences', async () => {
    const shapes = { q: [2, 2, 3, 8], k: [2, 2, 5, 8], v: [2, 2, 5, 4] };
    const data = { q: rand(96, 41), k: rand(160, 42), v: rand(80, 43) };
    const maskData = R.arr([2, 1, 3, 5], rand(30, 44).map((x, i) => (i % 5 === 4 && x > 0 ? -1e9 : x)));
    const w = R.arr([2, 2, 3, 4], rand(48, 45));
    const scale = 0.4;
    const ts = (['q', 'k', 'v'] as const).map((n) => ops.tensor(data[n], shapes[n], 'f32', gpu));
    const mask = ops.tensor(Float32Array.from(maskData.data), maskData.shape, 'f32', gpu);
    const wt = ops.tensor(Float32Array.from(w.data), w.shape, 'f32', gpu);
    const { value, grads } = valueAndGrads(() => ops.sum(ops.mul(ops.attention(ts[0]!, ts[1]!, ts[2]!, { scale, causal: true, mask }).out, wt)), ts);
    const got = await Promise.all(grads.map((g) => g.data()));
    const arrs = (['q', 'k', 'v'] as const).map((n) => R.arr(shapes[n], data[n]));
    const L = (xs: R.Arr[]): number => R.dot(w, R.attention(xs[0]!, xs[1]!, xs[2]!, scale, true, maskData).out);
    expect(Math.abs((await value.data())[0]! - L(arrs))).toBeLessThan(1e-5);
    const eps = 1e-4;
    arrs.forEach((x, n) => {
      const fd = Array.from(x.data, (_, j) => {
        const at = (d: number) => arrs.map((a, m) => (m === n ? R.arr(a.shape, Array.from(a.data, (y, i) => (i === j ? y + d : y))) : a));
        return (L(at(eps)) - L(at(-eps))) / (2 * eps);
      });
      expect(relErr(got[n]!, fd), `gradient of ${'qkv'[n]}`).toBeLessThan(1e-4);
    });
    for (const t of [...ts, ...grads, mask, wt, value]) t.dispose();
  });

  it('fused softmax, log-softmax and RMSNorm gradients match the cpu backend (short and long rows)', async () => {
    for (const [rows, n] of [[7, 12], [5, 300]] as const) {
      const x = rand(rows * n, n + 1).map((t) => 3 * t);
      const dy = rand(rows * n, n + 2);
      const w = rand(n, n + 3).map((t) => 1 + 0.5 * t);
      const run = async (be: Backend): Promise<ArrayLike<number>[]> => {
        const f = be.fused!;
        const xr = { storage: be.upload(x, 'f32'), shape: [rows, n], dtype: 'f32' as const };
        const dyr = { storage: be.upload(dy, 'f32'), shape: [rows, n], dtype: 'f32' as const };
        const wr = { storage: be.upload(w, 'f32'), shape: [n], dtype: 'f32' as const };
        const sm = { ...xr, storage: f.softmax!(xr) };
        const ls = { ...xr, storage: f.logSoftmax!(xr) };
        const a = f.softmaxBackward!(sm, dyr);
        const b = f.logSoftmaxBackward!(ls, dyr);
        const r = f.rmsNormBackward!(xr, wr, 1e-5, dyr);
        const out = [await be.read({ ...xr, storage: a }), await be.read({ ...xr, storage: b }), await be.read({ ...xr, storage: r.dx }), await be.read({ ...wr, storage: r.dweight })];
        for (const s of [xr.storage, dyr.storage, wr.storage, sm.storage, ls.storage, a, b, r.dx, r.dweight]) be.dispose(s);
        return out;
      };
      const want = await run(cpu);
      const got = await run(gpu);
      ['softmaxBackward', 'logSoftmaxBackward', 'rmsNormBackward dx', 'rmsNormBackward dweight'].forEach((name, i) => {
        expect(relErr(got[i]!, want[i]!), `${name} [${rows}, ${n}]`).toBeLessThan(1e-5);
      });
    }
  });

  it('describes the adapter and the matmul choice; a second backend reuses the tuning', async () => {
    expect(gpu.describe()).toMatch(/webgpu on .*matmul autotuned/);
    const info = gpu.adapterInfo();
    expect(info.limits.maxBufferSize).toBeGreaterThan(0);
    const t0 = performance.now();
    const again = await createWebGpuBackend();
    const ms = performance.now() - t0;
    expect(again.tuner.summary()).toBe(gpu.tuner.summary());
    expect(ms, 'the second backend on the same adapter does not time the kernels again').toBeLessThan(2000);
    await again.destroy();
  });
});

describe('webgpu without an adapter', () => {
  it('says what to install', async () => {
    // Asking Dawn for an adapter that does not exist finds none, like a machine without Vulkan.
    const err = await createWebGpuBackend({ dawnFlags: ['adapter=no-such-adapter'] }).then(
      async (b) => { await b.destroy(); return undefined; },
      (e: Error) => e,
    );
    expect(err?.name).toBe('KarakoramError');
    expect(err?.message).toContain('apt-get install chromium libvulkan1');
    expect(err?.message).toContain('VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json');
  });
});
