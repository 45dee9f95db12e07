/**
 * gather and scatterAdd over x viewed as [pre, n, post] with m indices.
 *
 * WGSL has no float atomics, so scatterAdd is made deterministic by linking the updates of each
 * target row in index order: `head[j]` is the first i with idx[i] = j and `next[i]` the following
 * one (-1 ends a chain). Each output element then walks its chain, adding updates in increasing i,
 * the same order as the cpu backend, so results match it bit for bit. Out-of-range indices are
 * skipped here (gather reads 0); the backend checks indices on the host where it knows them.
 */
import type { DType } from '@karakoram/core';
import { grid1d, header, main1d, u, type Program } from '../program.js';

/** Uniforms: [total, n, m, post]. */
export function gather(x: { buffer: GPUBuffer; dtype: DType }, idx: GPUBuffer, pre: number, n: number, m: number, post: number, y: GPUBuffer): Program {
  const T = x.dtype;
  const total = pre * m * post;
  return {
    key: `gather|${T}`,
    code: () => [header(4, [T, 'i32'], [T]), main1d(u(0), `  let n = ${u(1)}; let m = ${u(2)}; let post = ${u(3)};
  let q = i % post;
  let pi = i / post;
  let k = pi % m;
  let p = pi / m;
  let j = X1[k];
  if (j < 0 || u32(j) >= n) { Y[i] = ${T}(0); return; }
  Y[i] = X0[(p * n + u32(j)) * post + q];`)].join('\n'),
    inputs: [x, { buffer: idx, dtype: 'i32' }],
    outputs: [{ buffer: y, dtype: T }],
    uniforms: [total, n, m, post],
    dispatch: grid1d(total),
  };
}

/** Step 1 (after head is filled with -1): next[i] and head[j]. Uniforms: [m, n]. */
export function scatterLinks(idx: GPUBuffer, m: number, n: number, head: GPUBuffer, next: GPUBuffer): Program {
  return {
    key: 'scatter-links',
    code: () => [header(2, ['i32'], ['i32', 'i32'], { out: ['HEAD', 'NEXT'] }), main1d(u(0), `  let m = ${u(0)};
  let j = X0[i];
  var first = true;
  for (var a = 0u; a < i; a = a + 1u) { if (X0[a] == j) { first = false; break; } }
  var nx = -1;
  for (var b = i + 1u; b < m; b = b + 1u) { if (X0[b] == j) { nx = i32(b); break; } }
  NEXT[i] = nx;
  if (first && j >= 0 && u32(j) < ${u(1)}) { HEAD[u32(j)] = i32(i); }`)].join('\n'),
    inputs: [{ buffer: idx, dtype: 'i32' }],
    outputs: [{ buffer: head, dtype: 'i32' }, { buffer: next, dtype: 'i32' }],
    uniforms: [m, n],
    dispatch: grid1d(m),
  };
}

/** Step 2: each output element sums its chain. Uniforms: [total, n, m, post]. */
export function scatterSum(dtype: DType, upd: GPUBuffer, head: GPUBuffer, next: GPUBuffer, pre: number, n: number, m: number, post: number, y: GPUBuffer): Program {
  const T = dtype;
  const total = pre * n * post;
  return {
    key: `scatter-sum|${T}`,
    code: () => [header(4, [T, 'i32', 'i32'], [T]), main1d(u(0), `  let n = ${u(1)}; let m = ${u(2)}; let post = ${u(3)};
  let q = i % post;
  let pj = i / post;
  let j = pj % n;
  let p = pj / n;
  var acc = ${T}(0);
  var k = X1[j];
  loop {
    if (k < 0) { break; }
    acc = acc + X0[(p * m + u32(k)) * post + q];
    k = X2[u32(k)];
  }
  Y[i] = acc;`)].join('\n'),
    inputs: [{ buffer: upd, dtype: T }, { buffer: head, dtype: 'i32' }, { buffer: next, dtype: 'i32' }],
    outputs: [{ buffer: y, dtype: T }],
    uniforms: [total, n, m, post],
    dispatch: grid1d(total),
  };
}
