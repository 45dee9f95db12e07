/**
 * The per-thread GEMM driver: packing and the blocking loops around the wasm macro-kernel.
 *
 * `runGemmPart` runs on the main thread and, unchanged, in each worker: the worker receives its
 * source through Function.prototype.toString (see threads.ts), so it must stay self-contained:
 * no imports, no helpers, no closures, only globals (Math, Atomics).
 *
 * Work is shared dynamically through counters in the control block, so a worker that wakes late
 * (the two cores here are shared with other processes) just takes fewer chunks:
 *   phase 1: pack all of B into panels, tasks taken from PACK_NEXT, then a barrier on PACK_DONE
 *            (the main thread starts PACK_DONE at -1 when it still copies A in after the wake-up,
 *            and adds 1 once A is in place);
 * A batched call (BATCH items) runs both phases over every item's tasks at once: one wake-up
 * for the whole batch instead of one per item (Muon's Newton-Schulz over stacked experts).
 *   phase 2: chunks of C (row block x column block) taken from WORK_NEXT; each packs its A block
 *            for every K block and runs the macro-kernel, then sets the chunk's flag at DONE so
 *            the main thread can copy that block of C out before the others finish.
 */

/** Int32 slots of the control block at byte 0 of the shared memory. */
export const Ctl = {
  GEN: 0, FINISHED: 1, ERROR: 2, PACK_NEXT: 3, PACK_DONE: 4, WORK_NEXT: 5, JOIN: 6,
  A: 8, B: 9, C: 10, BT: 11, AT: 12, AT_STRIDE: 13, M: 14, N: 15, K: 16, TRANS_A: 17, TRANS_B: 18,
  LDC: 19, MR: 20, NR: 21, UNROLL: 22, KC: 23, MC: 24, NCH_PANELS: 25, PACK_TASKS: 26, CHUNKS: 27,
  M_BLOCKS: 28, PANELS_PER_TASK: 29, DONE: 30,
  /** Batched calls: item count and the floats between items of A, B, C and packed B (0: shared). */
  BATCH: 31, A_ITEM: 32, B_ITEM: 33, C_ITEM: 34, BT_ITEM: 35,
  /** Int32 slots used; the block is padded to CONTROL_BYTES. */
  SIZE: 36,
} as const;
export const CONTROL_BYTES = 256;
/** Set in JOIN when the main thread has finished its share: later arrivals must not start. */
export const JOIN_CLOSED = 0x40000000;

export type MacroFn = (a: number, b: number, c: number, mTiles: number, nTiles: number, kPad: number, ldcBytes: number, acc: number) => void;

/** packB(src, dst, kb, srcStrideBytes, panels, dstPanelStrideBytes); packA(src, dst, kb4, srcStrideBytes, tiles, dstTileStrideBytes), only for MR 2 and 4. */
export type PackFn = (src: number, dst: number, kb: number, srcStride: number, count: number, dstStride: number) => void;
/** The wasm module's exports the driver uses. */
export interface GemmExports { macro: MacroFn; packB: PackFn; packA?: PackFn }

export function runGemmPart(ex: GemmExports, f32: Float32Array, ctrl: Int32Array, tid: number): void {
  const macro = ex.macro, packB = ex.packB, packA = ex.packA;
  const i32 = new Int32Array(f32.buffer, 0, f32.length);
  const doneOff = ctrl[30]!;
  const aOff0 = ctrl[8]!, bOff0 = ctrl[9]!, cOff0 = ctrl[10]!, btOff0 = ctrl[11]!;
  const atOff = ctrl[12]! + tid * ctrl[13]!;
  const m = ctrl[14]!, n = ctrl[15]!, k = ctrl[16]!, transA = ctrl[17]!, transB = ctrl[18]!;
  const ldc = ctrl[19]!, MR = ctrl[20]!, NR = ctrl[21]!, U = ctrl[22]!, KC = ctrl[23]!, MC = ctrl[24]!;
  const nchPanels = ctrl[25]!, packTasks = ctrl[26]!, chunks = ctrl[27]!, mBlocks = ctrl[28]!, ppt = ctrl[29]!;
  const batch = ctrl[31]!, aItem = ctrl[32]!, bItem = ctrl[33]!, cItem = ctrl[34]!, btItem = ctrl[35]!;
  const nPanels = Math.ceil(n / NR);
  const kBlocks = Math.ceil(k / KC);
  const groups = Math.ceil(nPanels / ppt);
  const packPer = kBlocks * groups;
  const chunksPer = chunks / batch;

  let packed = 0;
  for (;;) {
    const tAll = Atomics.add(ctrl, 3, 1);
    if (tAll >= packTasks) break;
    const item = Math.floor(tAll / packPer);
    const t = tAll - item * packPer;
    const bOff = bOff0 + item * bItem, btOff = btOff0 + item * btItem;
    const p = Math.floor(t / groups);
    const g = t - p * groups;
    const pc = p * KC;
    const kb = Math.min(KC, k - pc);
    const kbPad = Math.ceil(kb / U) * U;
    const qEnd = Math.min(nPanels, (g + 1) * ppt);
    let q0 = g * ppt;
    if (transB === 0) {
      // Full panels in wasm (SIMD row copies); a partial last panel below.
      const full = Math.min(qEnd, Math.floor(n / NR)) - q0;
      if (full > 0) {
        packB((bOff + pc * n + q0 * NR) * 4, (btOff + pc * ldc + q0 * kbPad * NR) * 4, kb, n * 4, full, kbPad * NR * 4);
        if (kbPad > kb) for (let q = q0; q < q0 + full; q++) {
          const d = btOff + pc * ldc + q * kbPad * NR + kb * NR;
          f32.fill(0, d, d + (kbPad - kb) * NR);
        }
        q0 += full;
      }
    }
    for (let q = q0; q < qEnd; q++) {
      let d = btOff + pc * ldc + q * kbPad * NR;
      const j0 = q * NR;
      const jn = Math.min(NR, n - j0);
      if (transB === 0) {
        let s = bOff + pc * n + j0;
        for (let kk = 0; kk < kb; kk++, s += n, d += NR) {
          for (let jj = 0; jj < jn; jj++) f32[d + jj] = f32[s + jj]!;
          for (let jj = jn; jj < NR; jj++) f32[d + jj] = 0;
        }
      } else {
        const s0 = bOff + j0 * k + pc;
        for (let kk = 0; kk < kb; kk++, d += NR) {
          let s = s0 + kk;
          for (let jj = 0; jj < jn; jj++, s += k) f32[d + jj] = f32[s]!;
          for (let jj = jn; jj < NR; jj++) f32[d + jj] = 0;
        }
      }
      f32.fill(0, d, d + (kbPad - kb) * NR);
    }
    packed++;
  }
  if (packed > 0 && Atomics.add(ctrl, 4, packed) + packed === packTasks) Atomics.notify(ctrl, 4);
  // The barrier is usually short: spin a little before sleeping, as a futex wake-up on a busy
  // machine can cost milliseconds.
  for (let spin = 0; spin < 20000 && Atomics.load(ctrl, 4) < packTasks; spin++);
  for (;;) {
    const v = Atomics.load(ctrl, 4);
    if (v >= packTasks) break;
    Atomics.wait(ctrl, 4, v);
  }

  for (;;) {
    const c = Atomics.add(ctrl, 5, 1);
    if (c >= chunks) break;
    const item = Math.floor(c / chunksPer);
    const cc = c - item * chunksPer;
    const aOff = aOff0 + item * aItem, cOff = cOff0 + item * cItem;
    const btOff = btOff0 + (bItem === 0 ? 0 : item) * btItem;
    const bj = Math.floor(cc / mBlocks);
    const i0 = (cc - bj * mBlocks) * MC;
    const mb = Math.min(MC, m - i0);
    const mTiles = Math.ceil(mb / MR);
    const q0 = bj * nchPanels;
    const nT = Math.min(nchPanels, nPanels - q0);
    if (nT <= 0 || mb <= 0) { Atomics.store(i32, doneOff + c, 1); continue; }
    for (let p = 0; p < kBlocks; p++) {
      const pc = p * KC;
      const kb = Math.min(KC, k - pc);
      const kbPad = Math.ceil(kb / U) * U;
      let s0 = 0;
      const kb4 = kb & ~3;
      if (transA === 0 && packA !== undefined && kb4 > 0) {
        // Full tiles, k steps in multiples of 4, in wasm (SIMD transposes).
        const full = Math.min(mTiles, Math.floor((m - i0) / MR));
        if (full > 0) {
          packA((aOff + i0 * k + pc) * 4, atOff * 4, kb4, k * 4, full, kbPad * MR * 4);
          for (let sIdx = 0; sIdx < full; sIdx++) {
            const d0 = atOff + sIdx * kbPad * MR;
            if (kb4 < kb) for (let r = 0; r < MR; r++) {
              const s = aOff + (i0 + sIdx * MR + r) * k + pc;
              for (let kk = kb4, d = d0 + kb4 * MR + r; kk < kb; kk++, d += MR) f32[d] = f32[s + kk]!;
            }
            f32.fill(0, d0 + kb * MR, d0 + kbPad * MR);
          }
          s0 = full;
        }
      }
      for (let sIdx = s0; sIdx < mTiles; sIdx++) {
        const d0 = atOff + sIdx * kbPad * MR;
        const r0 = i0 + sIdx * MR;
        const rn = Math.min(MR, m - r0);
        if (transA === 0) {
          for (let r = 0; r < rn; r++) {
            const s = aOff + (r0 + r) * k + pc;
            let d = d0 + r;
            for (let kk = 0; kk < kb; kk++, d += MR) f32[d] = f32[s + kk]!;
          }
          for (let r = rn; r < MR; r++) for (let kk = 0, d = d0 + r; kk < kb; kk++, d += MR) f32[d] = 0;
        } else {
          let s = aOff + pc * m + r0;
          let d = d0;
          for (let kk = 0; kk < kb; kk++, s += m, d += MR) {
            for (let r = 0; r < rn; r++) f32[d + r] = f32[s + r]!;
            for (let r = rn; r < MR; r++) f32[d + r] = 0;
          }
        }
        f32.fill(0, d0 + kb * MR, d0 + kbPad * MR);
      }
      macro(atOff * 4, (btOff + pc * ldc + q0 * kbPad * NR) * 4, (cOff + i0 * ldc + q0 * NR) * 4, mTiles, nT, kbPad, ldc * 4, p > 0 ? 1 : 0);
    }
    // The chunk's C block is final: the main thread may copy it out while others still work.
    Atomics.store(i32, doneOff + c, 1);
  }
}
