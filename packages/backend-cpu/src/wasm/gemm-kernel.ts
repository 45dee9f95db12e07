import { Func, I32, ModuleBuilder, Simd, V128 } from './emitter.js';

/** Register-blocking shape of the generated micro-kernel. */
export interface KernelShape {
  /** Rows of C per micro-tile. */
  mr: number;
  /** Columns of C per micro-tile; a multiple of 4 (one f32x4 per 4 columns). */
  nr: number;
  /** K-loop unroll; packed panels are zero-padded to a multiple of it, so there is no remainder loop. */
  unroll: number;
  /** Use f32x4.relaxed_madd (one FMA instead of mul + add). */
  fma: boolean;
}

/**
 * 4x8: 8 accumulators + 2 B vectors + the A splat + a product temporary stay within the 15
 * xmm registers V8 leaves free on x64 (it keeps one as scratch), so nothing spills in the K loop.
 * Wider tiles measured slower here because V8 then spills accumulators.
 */
export const DEFAULT_SHAPE: KernelShape = { mr: 4, nr: 8, unroll: 1, fma: false };

/**
 * The macro-kernel: C[mTiles*mr, nTiles*nr] (row stride ldc bytes) = or += packed A times packed B.
 *
 * Packed A: mTiles panels, each kPad steps of mr consecutive floats (column of the panel).
 * Packed B: nTiles panels, each kPad steps of nr consecutive floats (row of the panel).
 * Loop order is BLIS's: each B panel (kPad*nr floats, ~8 KB) stays in L1 while all A panels
 * (the packed A block, sized for L2) stream past it.
 *
 * export macro(a, b, c, mTiles, nTiles, kPad, ldcBytes, accumulate)
 */
export function emitMacroKernel(s: KernelShape): Func {
  const { mr, nr, unroll, fma } = s;
  if (nr % 4 !== 0) throw new Error('nr must be a multiple of 4');
  const nv = nr / 4;
  const f = new Func([I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [A, B, C, MT, NT, KP, LDC, ACC] = [0, 1, 2, 3, 4, 5, 6, 7];
  const jr = f.local(I32);
  const ir = f.local(I32);
  const pa = f.local(I32);
  const pb = f.local(I32);
  const pend = f.local(I32);
  const bPanel = f.local(I32);
  const cj = f.local(I32);
  const ct = f.local(I32);
  const crow = f.local(I32);
  const acc: number[][] = [];
  for (let r = 0; r < mr; r++) acc.push(Array.from({ length: nv }, () => f.local(V128)));
  const bv = Array.from({ length: nv }, () => f.local(V128));
  const av = f.local(V128);

  f.i32(0).set(jr).get(B).set(bPanel).get(C).set(cj);
  f.loop(); // J: over B panels
  {
    f.i32(0).set(ir).get(A).set(pa).get(cj).set(ct);
    f.loop(); // I: over A panels
    {
      f.get(bPanel).tee(pb).get(KP).i32(nr * 4).mul().add().set(pend);
      // Load or zero the accumulators.
      f.get(ACC).if_();
      f.get(ct).set(crow);
      for (let r = 0; r < mr; r++) {
        for (let v = 0; v < nv; v++) f.get(crow).v128Load(v * 16).set(acc[r]![v]!);
        if (r < mr - 1) f.addLocal(crow, LDC);
      }
      f.else_();
      for (let r = 0; r < mr; r++) for (let v = 0; v < nv; v++) f.v128Zero().set(acc[r]![v]!);
      f.end();
      f.loop(); // K
      for (let u = 0; u < unroll; u++) {
        for (let v = 0; v < nv; v++) f.get(pb).v128Load((u * nr + v * 4) * 4).set(bv[v]!);
        for (let r = 0; r < mr; r++) {
          f.get(pa).load32Splat((u * mr + r) * 4).set(av);
          for (let v = 0; v < nv; v++) {
            const a = acc[r]![v]!;
            if (fma) f.get(av).get(bv[v]!).get(a).simd(Simd.f32x4_relaxed_madd).set(a);
            else f.get(a).get(av).get(bv[v]!).simd(Simd.f32x4_mul).simd(Simd.f32x4_add).set(a);
          }
        }
      }
      f.addTo(pa, mr * unroll * 4).addTo(pb, nr * unroll * 4);
      f.get(pb).get(pend).ltU().brIf(0);
      f.end();
      f.get(ct).set(crow);
      for (let r = 0; r < mr; r++) {
        for (let v = 0; v < nv; v++) f.get(crow).get(acc[r]![v]!).v128Store(v * 16);
        if (r < mr - 1) f.addLocal(crow, LDC);
      }
      // pa already points at the next A panel; the next C tile is mr rows down.
      f.get(ct).get(LDC).i32(mr).mul().add().set(ct);
      f.get(ir).i32(1).add().tee(ir).get(MT).ltU().brIf(0);
    }
    f.end();
    f.get(pend).set(bPanel).addTo(cj, nr * 4);
    f.get(jr).i32(1).add().tee(jr).get(NT).ltU().brIf(0);
  }
  f.end();
  return f;
}

/**
 * Packs full B panels from a row-major (not transposed) B: for each of `panels` panels,
 * kb rows of nr floats, read with row stride `srcStride` bytes, written contiguously.
 *
 * export packB(src, dst, kb, srcStride, panels, dstPanelStride)
 */
export function emitPackB(nr: number): Func {
  const nv = nr / 4;
  const f = new Func([I32, I32, I32, I32, I32, I32], []);
  const [SRC, DST, KB, SS, NP, DPS] = [0, 1, 2, 3, 4, 5];
  const q = f.local(I32), s = f.local(I32), d = f.local(I32), kk = f.local(I32);
  f.get(NP).eqz().if_().return_().end();
  f.get(KB).eqz().if_().return_().end();
  f.i32(0).set(q);
  f.loop();
  {
    f.get(SRC).get(q).i32(nr * 4).mul().add().set(s);
    f.get(DST).get(q).get(DPS).mul().add().set(d);
    f.i32(0).set(kk);
    f.loop();
    for (let v = 0; v < nv; v++) f.get(d).get(s).v128Load(v * 16).v128Store(v * 16);
    f.addLocal(s, SS).addTo(d, nr * 4);
    f.get(kk).i32(1).add().tee(kk).get(KB).ltU().brIf(0);
    f.end();
    f.get(q).i32(1).add().tee(q).get(NP).ltU().brIf(0);
  }
  f.end();
  return f;
}

/**
 * Packs full mr-row A tiles (mr = 2 or 4) from a row-major (not transposed) A with SIMD
 * transposes: for each of `tiles` tiles, rows at stride `srcStride` bytes, kb4 (a multiple of 4)
 * k steps written as kb4 groups of mr floats; tiles are dstTileStride bytes apart.
 *
 * export packA(src, dst, kb4, srcStride, tiles, dstTileStride)
 */
export function emitPackA(mr: number): Func {
  if (mr !== 2 && mr !== 4) throw new Error('packA: mr must be 2 or 4');
  const f = new Func([I32, I32, I32, I32, I32, I32], []);
  const [SRC, DST, KB, SS, NT, DTS] = [0, 1, 2, 3, 4, 5];
  const t = f.local(I32), s = f.local(I32), d = f.local(I32), kk = f.local(I32);
  const r = Array.from({ length: mr }, () => f.local(V128));
  const u = Array.from({ length: mr }, () => f.local(V128));
  f.get(NT).eqz().if_().return_().end();
  f.get(KB).eqz().if_().return_().end();
  f.i32(0).set(t);
  f.loop();
  {
    f.get(SRC).get(t).get(SS).i32(mr).mul().mul().add().set(s);
    f.get(DST).get(t).get(DTS).mul().add().set(d);
    f.i32(0).set(kk);
    f.loop();
    {
      for (let i = 0; i < mr; i++) {
        f.get(s);
        if (i > 0) f.get(SS).i32(i).mul().add();
        f.v128Load(0).set(r[i]!);
      }
      if (mr === 2) {
        f.get(d).get(r[0]!).get(r[1]!).shuffle32([0, 4, 1, 5]).v128Store(0);
        f.get(d).get(r[0]!).get(r[1]!).shuffle32([2, 6, 3, 7]).v128Store(16);
      } else {
        f.get(r[0]!).get(r[1]!).shuffle32([0, 4, 1, 5]).set(u[0]!);
        f.get(r[0]!).get(r[1]!).shuffle32([2, 6, 3, 7]).set(u[1]!);
        f.get(r[2]!).get(r[3]!).shuffle32([0, 4, 1, 5]).set(u[2]!);
        f.get(r[2]!).get(r[3]!).shuffle32([2, 6, 3, 7]).set(u[3]!);
        f.get(d).get(u[0]!).get(u[2]!).shuffle32([0, 1, 4, 5]).v128Store(0);
        f.get(d).get(u[0]!).get(u[2]!).shuffle32([2, 3, 6, 7]).v128Store(16);
        f.get(d).get(u[1]!).get(u[3]!).shuffle32([0, 1, 4, 5]).v128Store(32);
        f.get(d).get(u[1]!).get(u[3]!).shuffle32([2, 3, 6, 7]).v128Store(48);
      }
      f.addTo(s, 16).addTo(d, 16 * mr);
      f.get(kk).i32(4).add().tee(kk).get(KB).ltU().brIf(0);
    }
    f.end();
    f.get(t).i32(1).add().tee(t).get(NT).ltU().brIf(0);
  }
  f.end();
  return f;
}

/** Module importing env.memory (shared when `shared`), exporting `macro`. */
export function buildGemmModule(s: KernelShape, shared: boolean, maxPages: number): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder();
  m.memory = { module: 'env', name: 'memory', min: 1, max: maxPages, shared };
  m.func(emitMacroKernel(s), 'macro');
  m.func(emitPackB(s.nr), 'packB');
  if (s.mr === 2 || s.mr === 4) m.func(emitPackA(s.mr), 'packA');
  return m.build();
}

function probe(op: number): boolean {
  const f = new Func([], [V128]);
  f.v128Zero().v128Zero();
  if (op === Simd.f32x4_relaxed_madd) f.v128Zero();
  f.simd(op);
  const m = new ModuleBuilder();
  m.func(f, 'f');
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(m.build());
  } catch {
    return false;
  }
}

/** The WebAssembly features this engine supports: SIMD, relaxed SIMD (FMA) and shared-memory threads. */
export interface WasmFeatures {
  simd: boolean;
  relaxedSimd: boolean;
  threads: boolean;
}

/** Validates tiny modules rather than trusting user agents: engines differ in what they enable. */
export function detectFeatures(): WasmFeatures {
  const simd = probe(Simd.f32x4_mul);
  const relaxedSimd = simd && probe(Simd.f32x4_relaxed_madd);
  let threads = false;
  try {
    threads = typeof SharedArrayBuffer === 'function'
      && new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    threads = false;
  }
  return { simd, relaxedSimd, threads };
}
