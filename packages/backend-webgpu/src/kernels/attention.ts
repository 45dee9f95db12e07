/**
 * Fused scaled dot-product attention (Backend.fused.attention and attentionBackward), with the
 * semantics of core's ops.attention: logits scale·q·kᵀ (+ an additive mask broadcast over batch
 * and heads), key j visible to query i iff j <= i + S - T when causal, softmax over the visible
 * keys. No [T, S] matrix is materialised and no workgroup memory is used (SwiftShader, a CPU
 * emulating a GPU, is slow at barriers): every invocation owns R consecutive rows of one head
 * (R = 2 or 1, see plan()) and loops over the other side, reading each of its rows once for all R.
 *
 * - forward: per query row, online softmax over the keys (a row's running sums are rescaled only
 *   when its running max grows); writes out, the row max and the log-sum-exp.
 * - backward, kernel 1: per query row, delta_i = dOut_i·out_i (kept for kernel 2) and
 *   dq_i = scale·Σ_j p_ij (dOut_i·v_j - delta_i) k_j, with p_ij = exp(logit_ij - lse_i).
 * - backward, kernel 2: per key row, over the queries that see it (p rebuilt):
 *   dv_j = Σ_i p_ij dOut_i, dk_j = scale·Σ_i p_ij (dOut_i·v_j - delta_i) q_i.
 *   No float atomics (WGSL has none), so every sum runs in a fixed order: deterministic.
 *
 * Rows are read as vec4 when D and Dv are multiples of 4. Two variants per kernel:
 * - 'reg': rows and accumulators in registers, the code unrolled over the head dims (a pipeline
 *   per size). Dynamically indexed private arrays are slow on SwiftShader (every lane indexes on
 *   its own); named registers are not, but compiling them gets slow as they grow (LIVE_MAX).
 * - 'loop' (R = 1): loops over the head dims, accumulators in private arrays (in the outputs
 *   past WGSL's 8 KiB cap on a variable).
 *
 * A row whose logits are all -inf (a mask hiding every key) gives NaN out and lse, as the cpu
 * backend and the composite do; a row with no key at all (S = 0) gives out 0, rowMax = lse = -inf.
 */
import { f32Bits, flatIndex, grid1d, header, u, WG, type Program } from '../program.js';

/** Shapes and options of one fused attention call (resolved by ops.attention). */
export interface AttentionShape {
  B: number;
  H: number;
  T: number;
  S: number;
  D: number;
  Dv: number;
  scale: number;
  causal: boolean;
  /** The mask's batch and head counts (1 or B, 1 or H), when there is a mask. */
  mask?: { mB: number; mH: number };
}

/**
 * Words (vec4 or f32) held in registers per invocation up to which a kernel is unrolled ('reg').
 * SwiftShader's compile time (once per pipeline) grows fast with the unrolled code: measured
 * here, 0.3-1.3 s at 20-40 words, 2-3 s at 80, 10-17 s at 130-200. What it buys shrinks with the
 * head dims: 2-5x over 'loop' at D = 48, Dv = 32; nothing for the forward at D = 192, Dv = 128.
 */
const LIVE_MAX = 64;
/** Floats of WGSL's cap on one private variable (8 KiB). */
const PRIVATE_MAX = 2048;

// Uniform words shared by the three kernels.
const U_N = 0, U_H = 1, U_T = 2, U_S = 3, U_DW = 4, U_DVW = 5, U_SCALE = 6, U_CAUSAL = 7, U_MB = 8, U_MH = 9, U_PER = 10;
const N_UNIFORMS = 11;

/**
 * Whether every kernel of this shape runs unrolled in registers ('reg'). The looped variant is
 * slow on SwiftShader: at K2's head dims (D 192, Dv 128) forward + backward measured 225-248 ms
 * against 63-93 ms for the composite (matmuls + fused softmax), so the backend declines there.
 */
export function fitsRegisters(s: AttentionShape): boolean {
  return (2 * s.D + s.Dv) / widthOf(s) <= LIVE_MAX;
}

/** Elements per load: 4 when both head dims allow vec4 rows. */
const widthOf = (s: AttentionShape): 1 | 4 => (s.D % 4 === 0 && s.Dv % 4 === 0 ? 4 : 1);

/** Uniforms for `per` invocations per head (rows of R). */
function uniforms(s: AttentionShape, per: number): number[] {
  const w = widthOf(s);
  const mB = s.mask ? (s.mask.mB === 1 ? 0 : s.mask.mH * s.T * s.S) : 0;
  const mH = s.mask ? (s.mask.mH === 1 ? 0 : s.T * s.S) : 0;
  return [s.B * s.H * per, s.H, s.T, s.S, s.D / w, s.Dv / w, f32Bits(s.scale), s.causal ? 1 : 0, mB, mH, per];
}

/** A row of words: `at(d)` is word d, or word `d` of a WGSL loop when d < 0. */
interface Row {
  at: (d: number) => string;
}

/** WGSL generation for one width and variant. */
class Gen {
  readonly T: string;
  readonly zero: string;
  constructor(readonly w: 1 | 4, readonly reg: boolean) {
    this.T = w === 4 ? 'vec4<f32>' : 'f32';
    this.zero = w === 4 ? 'vec4<f32>(0.0)' : '0.0';
  }

  /** Sum of a vec's lanes (identity for f32). */
  hsum(v: string): string {
    return this.w === 4 ? `(${v}.x + ${v}.y + ${v}.z + ${v}.w)` : v;
  }

  /** `body` for every word d < n (`nExpr` in WGSL for the loop variant). */
  each(n: number, nExpr: string, body: (d: number) => string): string {
    if (!this.reg) return `for (var d = 0u; d < ${nExpr}; d = d + 1u) { ${body(-1)} }`;
    return Array.from({ length: n }, (_, d) => body(d)).join(' ');
  }

  /** Buffer row `buf[base + .]`. */
  buf(buf: string, base: string): Row {
    return { at: (d) => (d < 0 ? `${buf}[${base} + d]` : `${buf}[${base} + ${d}u]`) };
  }

  /** A row read once into registers `name<d>` (when `hold`, 'reg' only), or read in place. */
  load(name: string, n: number, src: Row, hold = true): { decl: string; row: Row } {
    if (!this.reg || !hold) return { decl: '', row: src };
    return { decl: Array.from({ length: n }, (_, d) => `let ${name}${d} = ${src.at(d)};`).join(' '), row: { at: (d) => `${name}${d}` } };
  }

  /**
   * A zeroed accumulator of n words: registers `name<d>` ('reg'); in 'loop' a private array, or
   * the output row `out` when the array would pass WGSL's 8 KiB cap on a variable.
   */
  acc(name: string, n: number, nExpr: string, out: Row): { decl: string; row: Row; inPlace: boolean } {
    if (this.reg) return { decl: Array.from({ length: n }, (_, d) => `var ${name}${d} = ${this.zero};`).join(' '), row: { at: (d) => `${name}${d}` }, inPlace: false };
    if (n * this.w <= PRIVATE_MAX) return { decl: `var ${name}: array<${this.T}, ${Math.max(1, n)}>;`, row: { at: (d) => `${name}[${d < 0 ? 'd' : d}]` }, inPlace: false };
    return { decl: this.each(n, nExpr, (d) => `${out.at(d)} = ${this.zero};`), row: out, inPlace: true };
  }

  /** Statements leaving Σ a·b over n words in f32 `out` (four partial sums when unrolled). */
  dot(out: string, n: number, nExpr: string, a: Row, b: Row): string {
    if (!this.reg) return `var ${out}v = ${this.zero}; ${this.each(n, nExpr, (d) => `${out}v = ${out}v + ${a.at(d)} * ${b.at(d)};`)} let ${out} = ${this.hsum(`${out}v`)};`;
    if (n === 0) return `let ${out} = 0.0;`;
    const chains = Math.min(4, n);
    const lines: string[] = [];
    for (let d = 0; d < n; d++) {
      const c = `${out}_${d % chains}`;
      lines.push(d < chains ? `var ${c} = ${a.at(d)} * ${b.at(d)};` : `${c} = ${c} + ${a.at(d)} * ${b.at(d)};`);
    }
    const p = Array.from({ length: chains }, (_, c) => `${out}_${c}`);
    const total = p.length === 4 ? `(${p[0]} + ${p[1]}) + (${p[2]} + ${p[3]})` : p.join(' + ');
    return `${lines.join(' ')} let ${out}_s = ${total}; let ${out} = ${this.hsum(`${out}_s`)};`;
  }
}

/** The entry point: invocation r is rows [t·R, t·R + R) of head bh. `mrow`: the head's mask block. */
const entry = (body: string): string => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = ${flatIndex()};
  if (r >= ${u(U_N)}) { return; }
  let H = ${u(U_H)}; let T = ${u(U_T)}; let S = ${u(U_S)}; let dw = ${u(U_DW)}; let dvw = ${u(U_DVW)};
  let scale = bitcast<f32>(${u(U_SCALE)}); let causal = ${u(U_CAUSAL)} != 0u;
  let per = ${u(U_PER)}; let bh = r / per; let t = r % per;
  let mrow = (bh / H) * ${u(U_MB)} + (bh % H) * ${u(U_MH)};
${body}
}`;

/** For R rows: `f(k)` for each row k, joined. */
const rowsOf = (R: number, f: (k: number) => string): string => Array.from({ length: R }, (_, k) => f(k)).join('\n');

/**
 * The variant of a kernel whose rows read `own` words and accumulate `acc`, sharing a row of
 * `shared` words of the other side: two rows per invocation (up to `maxR`, and `len`, the rows
 * per head) or one whose live words fit LIVE_MAX, else 'loop'. Measured here for D = 48,
 * Dv = 32: two forward rows per invocation 1.4x faster than one, four 1.15x more at 2.5x the
 * compile time; two backward rows 1.1x faster than one at 2.5x the compile time.
 */
function plan(s: AttentionShape, own: number, acc: number, shared: number, len: number, maxR: 1 | 2): { g: Gen; R: number } {
  const w = widthOf(s);
  if (maxR === 2 && len >= 2 && (2 * (own + acc) + shared) / w <= LIVE_MAX) return { g: new Gen(w, true), R: 2 };
  return { g: new Gen(w, (own + acc) / w <= LIVE_MAX), R: 1 };
}

/** Pipeline key: both variants bake the head dims in (registers, private array sizes). */
const keyOf = (g: Gen, R: number, s: AttentionShape): string => `w${g.w}|${g.reg ? 'reg' : 'loop'}${s.D / g.w}x${s.Dv / g.w}r${R}|m${s.mask ? 1 : 0}`;
const f32s = (bufs: readonly GPUBuffer[]) => bufs.map((buffer) => ({ buffer, dtype: 'f32' as const }));
const idx = (d: number): string => (d < 0 ? 'd' : `${d}u`);

/** WGSL: query rows i<k> of this invocation (clamped to ic<k> for loads) and their key limits. */
const queryRows = (R: number): string => rowsOf(R, (k) => `  let i${k} = t * ${R}u + ${k}u; let ic${k} = min(i${k}, T - 1u); let qr${k} = bh * T + ic${k};
  var lim${k} = 0u;
  if (i${k} < T) { lim${k} = S; if (causal) { lim${k} = min(S, i${k} + S - T + 1u); } }`);

/**
 * Forward. Inputs q, k, v (and mask); outputs out [B·H·T, Dv], rowMax and lse [B·H·T].
 */
export function attentionForward(s: AttentionShape, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, mask: GPUBuffer | undefined, out: GPUBuffer, rowMax: GPUBuffer, lse: GPUBuffer): Program {
  const { g, R } = plan(s, s.D, s.Dv, s.D, s.T, 2);
  const dw = s.D / g.w;
  const dvw = s.Dv / g.w;
  const code = (): string => {
    const qs = Array.from({ length: R }, (_, k) => g.load(`q${k}_`, dw, g.buf('Q', `qr${k} * dw`)));
    const accs = Array.from({ length: R }, (_, k) => g.acc(`a${k}_`, dvw, 'dvw', g.buf('O', `qr${k} * dvw`)));
    const krow = g.load('kd', dw, g.buf('K', 'kr * dw'), R > 1);
    const limAll = rowsOf(R, (k) => `lim${k}`).split('\n').reduce((a, b) => `max(${a}, ${b})`);
    return `${header(N_UNIFORMS, [g.T, g.T, g.T, ...(s.mask ? ['f32'] : [])], [g.T, 'f32', 'f32'], { in: ['Q', 'K', 'Vv', 'M'], out: ['O', 'RM', 'LSE'] })}
${entry(`${queryRows(R)}
${rowsOf(R, (k) => `  ${qs[k]!.decl}\n  ${accs[k]!.decl}\n  var m${k} = negInf(); var l${k} = 0.0;`)}
  let lim = ${limAll};
  for (var j = 0u; j < lim; j = j + 1u) {
    let kr = bh * S + j;
    ${krow.decl}
${rowsOf(R, (k) => `    ${g.dot(`qk${k}`, dw, 'dw', qs[k]!.row, krow.row)}
    let x${k} = select(negInf(), qk${k} * scale${s.mask ? ` + M[mrow + ic${k} * S + j]` : ''}, j < lim${k});
    if (x${k} > m${k}) {
      let c = exp(m${k} - x${k});
      l${k} = l${k} * c;
      ${g.each(dvw, 'dvw', (d) => `${accs[k]!.row.at(d)} = ${accs[k]!.row.at(d)} * c;`)}
      m${k} = x${k};
    }
    // exp(-inf - -inf) would be NaN: an invisible key adds nothing (a NaN logit still propagates).
    let p${k} = select(exp(x${k} - m${k}), 0.0, x${k} == negInf());
    l${k} = l${k} + p${k};`)}
    ${g.each(dvw, 'dvw', (d) => `{ let vv = Vv[kr * dvw + ${idx(d)}]; ${rowsOf(R, (k) => `${accs[k]!.row.at(d)} = ${accs[k]!.row.at(d)} + p${k} * vv;`).split('\n').join(' ')} }`)}
  }
${rowsOf(R, (k) => `  if (i${k} < T) {
    // l = 0: no visible key; NaN as the cpu backend when there were keys (all logits -inf).
    let none${k} = select(0.0, nanF(), lim${k} > 0u);
    let inv${k} = select(1.0 / l${k}, none${k}, l${k} == 0.0);
    ${g.each(dvw, 'dvw', (d) => `O[qr${k} * dvw + ${idx(d)}] = ${accs[k]!.row.at(d)} * inv${k};`)}
    RM[qr${k}] = m${k};
    LSE[qr${k}] = select(m${k} + log(l${k}), select(negInf(), none${k}, lim${k} > 0u), l${k} == 0.0);
  }`)}`)}`;
  };
  const per = Math.ceil(s.T / R);
  return {
    key: `attn:fwd|${keyOf(g, R, s)}`,
    code,
    inputs: f32s([q, k, v, ...(mask ? [mask] : [])]),
    outputs: f32s([out, rowMax, lse]),
    uniforms: uniforms(s, per),
    dispatch: grid1d(s.B * s.H * per),
  };
}

/**
 * Backward kernel 1, per query row. Inputs q, k, v, out, lse, dOut (and mask); outputs dq and
 * delta [B·H·T] = Σ dOut·out (read by attentionBackwardKV).
 */
export function attentionBackwardQ(s: AttentionShape, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, out: GPUBuffer, lse: GPUBuffer, dOut: GPUBuffer, mask: GPUBuffer | undefined, dq: GPUBuffer, delta: GPUBuffer): Program {
  const { g, R } = plan(s, s.D + s.Dv, s.D, s.D + s.Dv, s.T, 1);
  const dw = s.D / g.w;
  const dvw = s.Dv / g.w;
  const code = (): string => {
    const qs = Array.from({ length: R }, (_, k) => g.load(`q${k}_`, dw, g.buf('Q', `qr${k} * dw`)));
    const gs = Array.from({ length: R }, (_, k) => g.load(`g${k}_`, dvw, g.buf('DO', `qr${k} * dvw`)));
    const accs = Array.from({ length: R }, (_, k) => g.acc(`a${k}_`, dw, 'dw', g.buf('DQ', `qr${k} * dw`)));
    const krow = g.load('kd', dw, g.buf('K', 'kr * dw'), R > 1);
    const vrow = g.load('vd', dvw, g.buf('Vv', 'kr * dvw'), R > 1);
    const limAll = rowsOf(R, (k) => `lim${k}`).split('\n').reduce((a, b) => `max(${a}, ${b})`);
    return `${header(N_UNIFORMS, [g.T, g.T, g.T, g.T, 'f32', g.T, ...(s.mask ? ['f32'] : [])], [g.T, 'f32'], { in: ['Q', 'K', 'Vv', 'O', 'LSE', 'DO', 'M'], out: ['DQ', 'DELTA'] })}
${entry(`${queryRows(R)}
${rowsOf(R, (k) => `  ${qs[k]!.decl}
  ${gs[k]!.decl}
  ${g.dot(`delta${k}`, dvw, 'dvw', gs[k]!.row, g.buf('O', `qr${k} * dvw`))}
  let ls${k} = LSE[qr${k}];
  ${accs[k]!.decl}`)}
  let lim = ${limAll};
  for (var j = 0u; j < lim; j = j + 1u) {
    let kr = bh * S + j;
    ${krow.decl}
    ${vrow.decl}
${rowsOf(R, (k) => `    ${g.dot(`qk${k}`, dw, 'dw', qs[k]!.row, krow.row)}
    let p${k} = select(0.0, exp(qk${k} * scale${s.mask ? ` + M[mrow + ic${k} * S + j]` : ''} - ls${k}), j < lim${k});
    ${g.dot(`dp${k}`, dvw, 'dvw', gs[k]!.row, vrow.row)}
    let ds${k} = p${k} * (dp${k} - delta${k});`)}
    ${g.each(dw, 'dw', (d) => rowsOf(R, (k) => `${accs[k]!.row.at(d)} = ${accs[k]!.row.at(d)} + ds${k} * ${krow.row.at(d)};`).split('\n').join(' '))}
  }
${rowsOf(R, (k) => `  if (i${k} < T) {
    DELTA[qr${k}] = delta${k};
    ${g.each(dw, 'dw', (d) => `DQ[qr${k} * dw + ${idx(d)}] = ${accs[k]!.row.at(d)} * scale;`)}
  }`)}`)}`;
  };
  const per = Math.ceil(s.T / R);
  return {
    key: `attn:bwdq|${keyOf(g, R, s)}`,
    code,
    inputs: f32s([q, k, v, out, lse, dOut, ...(mask ? [mask] : [])]),
    outputs: f32s([dq, delta]),
    uniforms: uniforms(s, per),
    dispatch: grid1d(s.B * s.H * per),
  };
}

/**
 * Backward kernel 2, per key row. Inputs q, k, v, lse, dOut, delta (and mask); outputs dk, dv.
 * Under the causal rule key j is seen by queries i >= j - (S - T).
 */
export function attentionBackwardKV(s: AttentionShape, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, lse: GPUBuffer, dOut: GPUBuffer, delta: GPUBuffer, mask: GPUBuffer | undefined, dk: GPUBuffer, dv: GPUBuffer): Program {
  const { g, R } = plan(s, s.D + s.Dv, s.D + s.Dv, s.D + s.Dv, s.S, 1);
  const dw = s.D / g.w;
  const dvw = s.Dv / g.w;
  const code = (): string => {
    const ks = Array.from({ length: R }, (_, k) => g.load(`k${k}_`, dw, g.buf('K', `kr${k} * dw`)));
    const vs = Array.from({ length: R }, (_, k) => g.load(`v${k}_`, dvw, g.buf('Vv', `kr${k} * dvw`)));
    const accK = Array.from({ length: R }, (_, k) => g.acc(`ak${k}_`, dw, 'dw', g.buf('DK', `kr${k} * dw`)));
    const accV = Array.from({ length: R }, (_, k) => g.acc(`av${k}_`, dvw, 'dvw', g.buf('DV', `kr${k} * dvw`)));
    const qrow = g.load('qd', dw, g.buf('Q', 'qr * dw'), R > 1);
    const grow = g.load('gd', dvw, g.buf('DO', 'qr * dvw'), R > 1);
    return `${header(N_UNIFORMS, [g.T, g.T, g.T, 'f32', g.T, 'f32', ...(s.mask ? ['f32'] : [])], [g.T, g.T], { in: ['Q', 'K', 'Vv', 'LSE', 'DO', 'DELTA', 'M'], out: ['DK', 'DV'] })}
${entry(`${rowsOf(R, (k) => `  let j${k} = t * ${R}u + ${k}u; let kr${k} = bh * S + min(j${k}, S - 1u);
  ${ks[k]!.decl}
  ${vs[k]!.decl}
  ${accK[k]!.decl}
  ${accV[k]!.decl}`)}
  // The first query that sees key j0 (later keys of this invocation start later: masked below).
  var i0 = 0u;
  if (causal && j0 + T > S) { i0 = j0 + T - S; }
  for (var i = i0; i < T; i = i + 1u) {
    let qr = bh * T + i;
    ${qrow.decl}
    ${grow.decl}
    let ls = LSE[qr];
    let dl = DELTA[qr];
${rowsOf(R, (k) => `    let vis${k} = j${k} < S && (!causal || j${k} + T <= i + S);
    ${g.dot(`qk${k}`, dw, 'dw', qrow.row, ks[k]!.row)}
    let p${k} = select(0.0, exp(qk${k} * scale${s.mask ? ` + M[mrow + i * S + min(j${k}, S - 1u)]` : ''} - ls), vis${k});
    ${g.dot(`dp${k}`, dvw, 'dvw', grow.row, vs[k]!.row)}
    let ds${k} = p${k} * (dp${k} - dl);`)}
    ${g.each(dvw, 'dvw', (d) => rowsOf(R, (k) => `${accV[k]!.row.at(d)} = ${accV[k]!.row.at(d)} + p${k} * ${grow.row.at(d)};`).split('\n').join(' '))}
    ${g.each(dw, 'dw', (d) => rowsOf(R, (k) => `${accK[k]!.row.at(d)} = ${accK[k]!.row.at(d)} + ds${k} * ${qrow.row.at(d)};`).split('\n').join(' '))}
  }
${rowsOf(R, (k) => `  if (j${k} < S) {
    ${g.each(dw, 'dw', (d) => `DK[kr${k} * dw + ${idx(d)}] = ${accK[k]!.row.at(d)} * scale;`)}
    ${accV[k]!.inPlace ? '' : g.each(dvw, 'dvw', (d) => `DV[kr${k} * dvw + ${idx(d)}] = ${accV[k]!.row.at(d)};`)}
  }`)}`)}`;
  };
  const per = Math.ceil(s.S / R);
  return {
    key: `attn:bwdkv|${keyOf(g, R, s)}`,
    code,
    inputs: f32s([q, k, v, lse, dOut, delta, ...(mask ? [mask] : [])]),
    outputs: f32s([dk, dv]),
    uniforms: uniforms(s, per),
    dispatch: grid1d(s.B * s.H * per),
  };
}
