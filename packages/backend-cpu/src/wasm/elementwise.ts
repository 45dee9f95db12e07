/**
 * WebAssembly SIMD elementwise kernels for the big f32 arrays of a training step: the four
 * arithmetic binary ops (same shape, or against a scalar) and the log-softmax row kernels with a
 * vector exp. V8 runs a JS loop over Float32Arrays at about 3 ns per element here; f32x4 code
 * runs at about 0.3 ns, so even with the copies in and out of wasm memory a binary op is ~3x
 * faster. Data moves through the module's own (unshared) memory in chunks that stay in cache.
 */
import { F32, F64, Func, I32, ModuleBuilder, Simd, V128 } from './emitter.js';

/** Arithmetic ops that have a SIMD kernel. */
export type ArithOp = 'add' | 'sub' | 'mul' | 'div';
const ARITH: Record<ArithOp, number> = { add: Simd.f32x4_add, sub: Simd.f32x4_sub, mul: Simd.f32x4_mul, div: Simd.f32x4_div };

/** Floats per chunk and operand: 3 operands x 64 KiB stay in L2. */
const CHUNK = 16384;
/** Below this many elements the JS loop wins (the call and copies cost a few microseconds). */
export const WASM_FROM = 4096;

/** f32 constant pushed and splatted to all four lanes. */
function splat(f: Func, v: number): Func {
  return f.f32(v).simd(Simd.f32x4_splat);
}

/**
 * exp of the f32x4 in local `x` for inputs <= 0 (the softmax family), left on the stack; Cephes'
 * expf: x = n·ln2 + r, |r| <= ln2/2, a degree-6 polynomial for e^r, 2^n built in the exponent
 * bits. Inputs below -88 (and -Infinity) give 0; NaN gives NaN.
 */
function emitExp(f: Func, x: number, fx: number, r: number): void {
  f.get(x);
  splat(f, -88).simd(Simd.f32x4_max).set(x);
  f.get(x);
  splat(f, Math.LOG2E).simd(Simd.f32x4_mul).simd(Simd.f32x4_nearest).set(fx);
  // r = x - fx·C1 - fx·C2 with ln2 split in two so fx·C1 is exact.
  f.get(x).get(fx);
  splat(f, 0.693359375).simd(Simd.f32x4_mul).simd(Simd.f32x4_sub);
  f.get(fx);
  splat(f, -2.12194440e-4).simd(Simd.f32x4_mul).simd(Simd.f32x4_sub).set(r);
  const P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
  splat(f, P[0]!);
  for (const p of P.slice(1)) f.get(r).simd(Simd.f32x4_mul).f32(p).simd(Simd.f32x4_splat).simd(Simd.f32x4_add);
  // y = poly·r² + r + 1
  f.get(r).simd(Simd.f32x4_mul).get(r).simd(Simd.f32x4_mul).get(r).simd(Simd.f32x4_add);
  splat(f, 1).simd(Simd.f32x4_add);
  // 2^fx: (fx + 127) << 23 as f32 bits; fx = -127 (inputs near -88) gives +0.
  f.get(fx).simd(Simd.i32x4_trunc_sat_f32x4_s).i32(127).simd(Simd.i32x4_splat).simd(Simd.i32x4_add).i32(23).simd(Simd.i32x4_shl);
  f.simd(Simd.f32x4_mul);
}

/** A loop over `bytes` (a multiple of 16) with byte offset local `i`; `body` sees i. */
function loop16(f: Func, bytes: number, i: number, body: () => void): void {
  f.i32(0).set(i);
  f.block().loop();
  f.get(i).get(bytes).ltU().eqz().brIf(1);
  body();
  f.addTo(i, 16).br(0);
  f.end().end();
}

/** Horizontal reduce of the f32x4 in `v` with a scalar f32 op, left on the stack. */
function hreduce(f: Func, v: number, op: 'add' | 'max'): void {
  const code = op === 'add' ? 0x92 : 0x97;
  f.get(v).simd(Simd.f32x4_extract_lane).byte(0);
  for (let l = 1; l < 4; l++) f.get(v).simd(Simd.f32x4_extract_lane).byte(l).op(code);
}

/** (p, bytes, m) -> f32: Σ exp(p - m) over the row, with p = exp(p - m) stored in place when `store`. */
function emitExpSum(store: boolean): Func {
  const f = new Func([I32, I32, F32], [F32]);
  const i = f.local(I32), acc = f.local(V128), mv = f.local(V128), x = f.local(V128), fx = f.local(V128), r = f.local(V128), e = f.local(V128);
  f.get(2).simd(Simd.f32x4_splat).set(mv);
  f.v128Zero().set(acc);
  loop16(f, 1, i, () => {
    f.get(0).get(i).add().v128Load(0).get(mv).simd(Simd.f32x4_sub).set(x);
    emitExp(f, x, fx, r);
    f.set(e);
    if (store) f.get(0).get(i).add().get(e).v128Store(0);
    f.get(acc).get(e).simd(Simd.f32x4_add).set(acc);
  });
  hreduce(f, acc, 'add');
  return f;
}

function buildModule(): Uint8Array<ArrayBuffer> {
  const mb = new ModuleBuilder();
  mb.memory = { module: 'env', name: 'memory', min: 4 };
  for (const [name, code] of Object.entries(ARITH)) {
    // vv(a, b, out, bytes): out = a op b
    const vv = new Func([I32, I32, I32, I32], []);
    const i = vv.local(I32);
    loop16(vv, 3, i, () => {
      vv.get(2).get(i).add();
      vv.get(0).get(i).add().v128Load(0).get(1).get(i).add().v128Load(0).simd(code).v128Store(0);
    });
    mb.func(vv, `${name}_vv`);
    // vs(a, s, out, bytes, swap): out = a op s, or s op a when swap
    const vs = new Func([I32, F32, I32, I32, I32], []);
    const j = vs.local(I32), sv = vs.local(V128);
    vs.get(1).simd(Simd.f32x4_splat).set(sv);
    vs.get(4).if_();
    loop16(vs, 3, j, () => { vs.get(2).get(j).add().get(sv).get(0).get(j).add().v128Load(0).simd(code).v128Store(0); });
    vs.else_();
    loop16(vs, 3, j, () => { vs.get(2).get(j).add().get(0).get(j).add().v128Load(0).get(sv).simd(code).v128Store(0); });
    vs.end();
    mb.func(vs, `${name}_vs`);
  }
  // rowMax(p, bytes) -> f32 (NaN propagates)
  {
    const f = new Func([I32, I32], [F32]);
    const i = f.local(I32), acc = f.local(V128);
    splat(f, -Infinity).set(acc);
    loop16(f, 1, i, () => { f.get(acc).get(0).get(i).add().v128Load(0).simd(Simd.f32x4_max).set(acc); });
    hreduce(f, acc, 'max');
    mb.func(f, 'rowMax');
  }
  // rowSum(p, bytes) -> f64, accumulated in f64 (two f64x2 sums) like the JS reductions
  {
    const f = new Func([I32, I32], [F64]);
    const i = f.local(I32), lo = f.local(V128), hi = f.local(V128), v = f.local(V128);
    f.v128Zero().set(lo).v128Zero().set(hi);
    loop16(f, 1, i, () => {
      f.get(0).get(i).add().v128Load(0).set(v);
      f.get(lo).get(v).simd(Simd.f64x2_promote_low_f32x4).simd(Simd.f64x2_add).set(lo);
      f.get(hi).get(v).get(v).shuffle32([2, 3, 0, 1]).simd(Simd.f64x2_promote_low_f32x4).simd(Simd.f64x2_add).set(hi);
    });
    f.get(lo).get(hi).simd(Simd.f64x2_add).set(lo);
    f.get(lo).simd(Simd.f64x2_extract_lane).byte(0).get(lo).simd(Simd.f64x2_extract_lane).byte(1).op(0xa0);
    mb.func(f, 'rowSum');
  }
  // sumExp(p, bytes, m) -> f32: Σ exp(x - m); expSum: the same, also storing p = exp(p - m).
  mb.func(emitExpSum(false), 'sumExp');
  mb.func(emitExpSum(true), 'expSum');
  // shift2(p, out, bytes, c1, c2): out = (x - c1) - c2
  {
    const f = new Func([I32, I32, I32, F32, F32], []);
    const i = f.local(I32), c1 = f.local(V128), c2 = f.local(V128);
    f.get(3).simd(Simd.f32x4_splat).set(c1).get(4).simd(Simd.f32x4_splat).set(c2);
    loop16(f, 2, i, () => {
      f.get(1).get(i).add().get(0).get(i).add().v128Load(0).get(c1).simd(Simd.f32x4_sub).get(c2).simd(Simd.f32x4_sub).v128Store(0);
    });
    mb.func(f, 'shift2');
  }
  // lsmBack(y, dy, out, bytes, s): out = dy - exp(y)·s
  {
    const f = new Func([I32, I32, I32, I32, F32], []);
    const i = f.local(I32), sv = f.local(V128), x = f.local(V128), fx = f.local(V128), r = f.local(V128);
    f.get(4).simd(Simd.f32x4_splat).set(sv);
    loop16(f, 3, i, () => {
      f.get(0).get(i).add().v128Load(0).set(x);
      f.get(2).get(i).add();
      f.get(1).get(i).add().v128Load(0);
      emitExp(f, x, fx, r);
      f.get(sv).simd(Simd.f32x4_mul).simd(Simd.f32x4_sub).v128Store(0);
    });
    mb.func(f, 'lsmBack');
  }
  // sigmoid(x, out, bytes): e = exp(-|x|); x >= 0 ? 1/(1+e) : e/(1+e) (no overflow either side).
  {
    const f = new Func([I32, I32, I32], []);
    const i = f.local(I32), v = f.local(V128), x = f.local(V128), fx = f.local(V128), r = f.local(V128), e = f.local(V128), s1 = f.local(V128);
    loop16(f, 2, i, () => {
      f.get(0).get(i).add().v128Load(0).tee(v).simd(Simd.f32x4_abs).simd(Simd.f32x4_neg).set(x);
      emitExp(f, x, fx, r);
      f.set(e);
      splat(f, 1).get(e);
      splat(f, 1).simd(Simd.f32x4_add).simd(Simd.f32x4_div).set(s1);
      f.get(1).get(i).add();
      f.get(s1).get(e).get(s1).simd(Simd.f32x4_mul);
      f.get(v).v128Zero().simd(Simd.f32x4_ge).simd(Simd.v128_bitselect).v128Store(0);
    });
    mb.func(f, 'sigmoid');
  }
  // Attention rows, in place on wasm memory (the scratch of scratch()):
  // scaleMax(p, bytes, scale) -> f32: p *= scale, returns the max.
  {
    const f = new Func([I32, I32, F32], [F32]);
    const i = f.local(I32), acc = f.local(V128), sv = f.local(V128), x = f.local(V128);
    f.get(2).simd(Simd.f32x4_splat).set(sv);
    splat(f, -Infinity).set(acc);
    loop16(f, 1, i, () => {
      f.get(0).get(i).add().get(0).get(i).add().v128Load(0).get(sv).simd(Simd.f32x4_mul).tee(x).v128Store(0);
      f.get(acc).get(x).simd(Simd.f32x4_max).set(acc);
    });
    hreduce(f, acc, 'max');
    mb.func(f, 'scaleMax');
  }
  // scaleRow(p, bytes, s): p *= s.
  {
    const f = new Func([I32, I32, F32], []);
    const i = f.local(I32), sv = f.local(V128);
    f.get(2).simd(Simd.f32x4_splat).set(sv);
    loop16(f, 1, i, () => { f.get(0).get(i).add().get(0).get(i).add().v128Load(0).get(sv).simd(Simd.f32x4_mul).v128Store(0); });
    mb.func(f, 'scaleRow');
  }
  // expDot(p, dp, bytes, scale, l) -> f32: p = exp(p·scale - l), returns Σ p·dp.
  {
    const f = new Func([I32, I32, I32, F32, F32], [F32]);
    const i = f.local(I32), acc = f.local(V128), sv = f.local(V128), lv = f.local(V128), x = f.local(V128), fx = f.local(V128), r = f.local(V128), e = f.local(V128);
    f.get(3).simd(Simd.f32x4_splat).set(sv).get(4).simd(Simd.f32x4_splat).set(lv);
    f.v128Zero().set(acc);
    loop16(f, 2, i, () => {
      f.get(0).get(i).add().v128Load(0).get(sv).simd(Simd.f32x4_mul).get(lv).simd(Simd.f32x4_sub).set(x);
      emitExp(f, x, fx, r);
      f.set(e);
      f.get(0).get(i).add().get(e).v128Store(0);
      f.get(acc).get(e).get(1).get(i).add().v128Load(0).simd(Simd.f32x4_mul).simd(Simd.f32x4_add).set(acc);
    });
    hreduce(f, acc, 'add');
    mb.func(f, 'expDot');
  }
  // dsRow(p, dp, bytes, scale, dot): dp = scale·p·(dp - dot).
  {
    const f = new Func([I32, I32, I32, F32, F32], []);
    const i = f.local(I32), sv = f.local(V128), dv = f.local(V128);
    f.get(3).simd(Simd.f32x4_splat).set(sv).get(4).simd(Simd.f32x4_splat).set(dv);
    loop16(f, 2, i, () => {
      f.get(1).get(i).add();
      f.get(sv).get(0).get(i).add().v128Load(0).simd(Simd.f32x4_mul);
      f.get(1).get(i).add().v128Load(0).get(dv).simd(Simd.f32x4_sub).simd(Simd.f32x4_mul).v128Store(0);
    });
    mb.func(f, 'dsRow');
  }
  return mb.build();
}

type Exports = {
  [K in `${ArithOp}_vv`]: (a: number, b: number, out: number, bytes: number) => void;
} & {
  [K in `${ArithOp}_vs`]: (a: number, s: number, out: number, bytes: number, swap: number) => void;
} & {
  rowMax(p: number, bytes: number): number;
  rowSum(p: number, bytes: number): number;
  sumExp(p: number, bytes: number, m: number): number;
  shift2(p: number, out: number, bytes: number, c1: number, c2: number): void;
  lsmBack(y: number, dy: number, out: number, bytes: number, s: number): void;
  sigmoid(x: number, out: number, bytes: number): void;
  scaleMax(p: number, bytes: number, scale: number): number;
  expSum(p: number, bytes: number, m: number): number;
  scaleRow(p: number, bytes: number, s: number): void;
  expDot(p: number, dp: number, bytes: number, scale: number, l: number): number;
  dsRow(p: number, dp: number, bytes: number, scale: number, dot: number): void;
};

/** The SIMD kernels over host Float32Arrays (copied through wasm memory chunk by chunk). */
export class WasmElementwise {
  private heap: Float32Array;

  private constructor(private readonly memory: WebAssembly.Memory, private readonly ex: Exports) {
    this.heap = new Float32Array(memory.buffer);
  }

  /** undefined where WebAssembly SIMD is unavailable. */
  static create(): WasmElementwise | undefined {
    try {
      const memory = new WebAssembly.Memory({ initial: 4 });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(buildModule()), { env: { memory } });
      return new WasmElementwise(memory, instance.exports as unknown as Exports);
    } catch {
      return undefined;
    }
  }

  private ensure(floats: number): Float32Array {
    const bytes = floats * 4;
    if (this.memory.buffer.byteLength < bytes) this.memory.grow(Math.ceil((bytes - this.memory.buffer.byteLength) / 65536));
    if (this.heap.buffer !== this.memory.buffer) this.heap = new Float32Array(this.memory.buffer);
    return this.heap;
  }

  /**
   * `count` blocks of `floats` each in wasm memory, past the chunk buffers, for kernels that work
   * in place (attention rows). Views die when the memory grows: take them again after any call
   * that may grow it (this one, binary, logSoftmax).
   */
  scratch(count: number, floats: number): Float32Array[] {
    const base = 3 * CHUNK;
    const heap = this.ensure(base + count * floats);
    return Array.from({ length: count }, (_, i) => heap.subarray(base + i * floats, base + (i + 1) * floats));
  }

  /** The in-place attention row kernels on scratch() views: byte offsets into wasm memory. */
  get rows(): Pick<Exports, 'scaleMax' | 'expSum' | 'scaleRow' | 'expDot' | 'dsRow'> {
    return this.ex;
  }

  /** out = a op b (same length), or a op s / s op a (swap) for a number b. */
  binary(op: ArithOp, a: Float32Array, b: Float32Array | number, out: Float32Array, swap = false): void {
    const n = out.length;
    const heap = this.ensure(3 * CHUNK);
    const vv = this.ex[`${op}_vv`], vs = this.ex[`${op}_vs`];
    // The kernel multiplies by the f32 value of s; so does the scalar tail.
    const s = typeof b === 'number' ? Math.fround(b) : 0;
    for (let o = 0; o < n; o += CHUNK) {
      const len = Math.min(CHUNK, n - o);
      const len4 = len & ~3;
      heap.set(a.subarray(o, o + len), 0);
      if (typeof b === 'number') vs(0, s, 2 * CHUNK * 4, len4 * 4, swap ? 1 : 0);
      else {
        heap.set(b.subarray(o, o + len), CHUNK);
        vv(0, CHUNK * 4, 2 * CHUNK * 4, len4 * 4);
      }
      out.set(heap.subarray(2 * CHUNK, 2 * CHUNK + len4), o);
      for (let i = len4; i < len; i++) {
        const x = swap ? s : a[o + i]!;
        const y = typeof b === 'number' ? (swap ? a[o + i]! : s) : b[o + i]!;
        out[o + i] = op === 'add' ? x + y : op === 'sub' ? x - y : op === 'mul' ? x * y : x / y;
      }
    }
  }

  /** sigmoid elementwise (outputs below ~1e-38 flush to 0). */
  sigmoid(x: Float32Array, out: Float32Array): void {
    const n = out.length;
    const heap = this.ensure(2 * CHUNK);
    for (let o = 0; o < n; o += CHUNK) {
      const len = Math.min(CHUNK, n - o);
      const len4 = len & ~3;
      heap.set(x.subarray(o, o + len), 0);
      this.ex.sigmoid(0, CHUNK * 4, len4 * 4);
      out.set(heap.subarray(CHUNK, CHUNK + len4), o);
      for (let i = len4; i < len; i++) {
        const v = x[o + i]!;
        out[o + i] = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
      }
    }
  }

  /** log-softmax over rows of length n (n a multiple of 4): (x - max) - log Σ exp(x - max). */
  logSoftmax(x: Float32Array, n: number, out: Float32Array): void {
    const rowsPer = Math.max(1, Math.floor(CHUNK / n));
    const heap = this.ensure(2 * rowsPer * n);
    const ex = this.ex;
    const rows = x.length / n;
    for (let r0 = 0; r0 < rows; r0 += rowsPer) {
      const cnt = Math.min(rowsPer, rows - r0);
      heap.set(x.subarray(r0 * n, (r0 + cnt) * n), 0);
      for (let r = 0; r < cnt; r++) {
        const p = r * n * 4;
        const m = ex.rowMax(p, n * 4);
        // A row of -Infinity (or NaN) has no finite max: leave it to the scalar rule, NaN out.
        const ls = Math.log(ex.sumExp(p, n * 4, m));
        ex.shift2(p, (rowsPer * n + r * n) * 4, n * 4, m, ls);
      }
      out.set(heap.subarray(rowsPer * n, (rowsPer + cnt) * n), r0 * n);
    }
  }

  /** The log-softmax gradient over rows of length n (a multiple of 4): dy - exp(y)·Σ dy. */
  logSoftmaxBackward(y: Float32Array, dy: Float32Array, n: number, out: Float32Array): void {
    const rowsPer = Math.max(1, Math.floor(CHUNK / n));
    const heap = this.ensure(3 * rowsPer * n);
    const ex = this.ex;
    const rows = y.length / n;
    const dyOff = rowsPer * n, outOff = 2 * rowsPer * n;
    for (let r0 = 0; r0 < rows; r0 += rowsPer) {
      const cnt = Math.min(rowsPer, rows - r0);
      heap.set(y.subarray(r0 * n, (r0 + cnt) * n), 0);
      heap.set(dy.subarray(r0 * n, (r0 + cnt) * n), dyOff);
      for (let r = 0; r < cnt; r++) {
        const s = ex.rowSum((dyOff + r * n) * 4, n * 4);
        ex.lsmBack(r * n * 4, (dyOff + r * n) * 4, (outOff + r * n) * 4, n * 4, s);
      }
      out.set(heap.subarray(outOff, outOff + cnt * n), r0 * n);
    }
  }
}
