/**
 * A minimal WebAssembly binary emitter: enough to generate specialised kernels at runtime
 * without a wasm toolchain (there is none in this repo, and runtime generation lets a kernel be
 * specialised to the host, e.g. relaxed-SIMD FMA only where the engine has it).
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

export function uleb(n: number, out: number[]): void {
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
}

export function sleb(n: number, out: number[]): void {
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

function name(s: string, out: number[]): void {
  const bytes = new TextEncoder().encode(s);
  uleb(bytes.length, out);
  for (const b of bytes) out.push(b);
}

function section(id: number, body: number[], out: number[]): void {
  out.push(id);
  uleb(body.length, out);
  for (const b of body) out.push(b);
}

/** SIMD opcodes (after the 0xfd prefix) this project uses. */
export const Simd = {
  v128_load: 0x00,
  v128_load32_splat: 0x09,
  v128_store: 0x0b,
  v128_const: 0x0c,
  f32x4_splat: 0x13,
  f32x4_extract_lane: 0x1f,
  f64x2_extract_lane: 0x21,
  f64x2_promote_low_f32x4: 0x5f,
  f64x2_add: 0xf0,
  i32x4_splat: 0x11,
  f32x4_nearest: 0x6a,
  i32x4_shl: 0xab,
  i32x4_add: 0xae,
  f32x4_ge: 0x46,
  v128_bitselect: 0x52,
  f32x4_abs: 0xe0,
  f32x4_neg: 0xe1,
  f32x4_add: 0xe4,
  f32x4_sub: 0xe5,
  f32x4_mul: 0xe6,
  f32x4_div: 0xe7,
  f32x4_max: 0xe9,
  i32x4_trunc_sat_f32x4_s: 0xf8,
  f32x4_relaxed_madd: 0x105,
} as const;

/** One function body, written as a stack-machine instruction stream. */
export class Func {
  readonly code: number[] = [];
  private readonly extra: ValType[] = [];

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[]) {}

  /** Declares a local and returns its index (params come first). */
  local(type: ValType): number {
    this.extra.push(type);
    return this.params.length + this.extra.length - 1;
  }

  get(i: number): this { this.code.push(0x20); uleb(i, this.code); return this; }
  set(i: number): this { this.code.push(0x21); uleb(i, this.code); return this; }
  tee(i: number): this { this.code.push(0x22); uleb(i, this.code); return this; }
  i32(v: number): this { this.code.push(0x41); sleb(v | 0, this.code); return this; }

  /** f32.const */
  f32(v: number): this {
    this.code.push(0x43);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) this.code.push(x);
    return this;
  }
  /** A raw opcode (e.g. f32.add 0x92, f32.max 0x97). */
  op(code: number): this { this.code.push(code); return this; }
  /** A raw immediate byte (a lane index). */
  byte(b: number): this { this.code.push(b); return this; }

  add(): this { this.code.push(0x6a); return this; }
  sub(): this { this.code.push(0x6b); return this; }
  mul(): this { this.code.push(0x6c); return this; }
  ltU(): this { this.code.push(0x49); return this; }
  eqz(): this { this.code.push(0x45); return this; }

  /** local[i] += v (i32). */
  addTo(i: number, v: number): this { return this.get(i).i32(v).add().set(i); }
  /** local[i] += local[j] (i32). */
  addLocal(i: number, j: number): this { return this.get(i).get(j).add().set(i); }

  block(): this { this.code.push(0x02, 0x40); return this; }
  loop(): this { this.code.push(0x03, 0x40); return this; }
  if_(): this { this.code.push(0x04, 0x40); return this; }
  else_(): this { this.code.push(0x05); return this; }
  end(): this { this.code.push(0x0b); return this; }
  br(depth: number): this { this.code.push(0x0c); uleb(depth, this.code); return this; }
  brIf(depth: number): this { this.code.push(0x0d); uleb(depth, this.code); return this; }

  return_(): this { this.code.push(0x0f); return this; }

  simd(op: number): this { this.code.push(0xfd); uleb(op, this.code); return this; }
  private memarg(align: number, offset: number): this { uleb(align, this.code); uleb(offset, this.code); return this; }
  v128Load(offset: number): this { return this.simd(Simd.v128_load).memarg(4, offset); }
  v128Store(offset: number): this { return this.simd(Simd.v128_store).memarg(4, offset); }
  load32Splat(offset: number): this { return this.simd(Simd.v128_load32_splat).memarg(2, offset); }
  /** i8x16.shuffle of the two v128s on the stack, lanes given as 32-bit lane indices (0-7). */
  shuffle32(lanes: readonly number[]): this {
    this.simd(0x0d);
    for (const l of lanes) for (let b = 0; b < 4; b++) this.code.push(l * 4 + b);
    return this;
  }
  v128Zero(): this { this.simd(Simd.v128_const); for (let i = 0; i < 16; i++) this.code.push(0); return this; }

  /** Locals declaration + code + end, as the code section wants it (without the size prefix). */
  encode(): number[] {
    const out: number[] = [];
    const groups: [number, ValType][] = [];
    for (const t of this.extra) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    uleb(groups.length, out);
    for (const [n, t] of groups) { uleb(n, out); out.push(t); }
    for (const b of this.code) out.push(b);
    out.push(0x0b);
    return out;
  }
}

export interface MemoryImport {
  module: string;
  name: string;
  /** Pages of 64 KiB. */
  min: number;
  max?: number;
  shared?: boolean;
}

/** Assembles functions (each with its own type) and an optional imported memory into a module. */
export class ModuleBuilder {
  private readonly funcs: { f: Func; exportName?: string }[] = [];
  memory?: MemoryImport;

  func(f: Func, exportName?: string): number {
    this.funcs.push(exportName === undefined ? { f } : { f, exportName });
    return this.funcs.length - 1;
  }

  build(): Uint8Array<ArrayBuffer> {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const types: number[] = [];
    uleb(this.funcs.length, types);
    for (const { f } of this.funcs) {
      types.push(0x60);
      uleb(f.params.length, types);
      types.push(...f.params);
      uleb(f.results.length, types);
      types.push(...f.results);
    }
    section(1, types, out);
    if (this.memory) {
      const m = this.memory;
      const imp: number[] = [];
      uleb(1, imp);
      name(m.module, imp);
      name(m.name, imp);
      imp.push(0x02);
      imp.push(m.shared ? 0x03 : m.max !== undefined ? 0x01 : 0x00);
      uleb(m.min, imp);
      if (m.max !== undefined || m.shared) uleb(m.max ?? m.min, imp);
      section(2, imp, out);
    }
    const fsec: number[] = [];
    uleb(this.funcs.length, fsec);
    this.funcs.forEach((_, i) => uleb(i, fsec));
    section(3, fsec, out);
    const exps = this.funcs.map((e, i) => [e.exportName, i] as const).filter((e): e is readonly [string, number] => e[0] !== undefined);
    const esec: number[] = [];
    uleb(exps.length, esec);
    for (const [n, i] of exps) { name(n, esec); esec.push(0x00); uleb(i, esec); }
    section(7, esec, out);
    const code: number[] = [];
    uleb(this.funcs.length, code);
    for (const { f } of this.funcs) {
      const body = f.encode();
      uleb(body.length, code);
      for (const b of body) code.push(b);
    }
    section(10, code, out);
    return new Uint8Array(out);
  }
}
