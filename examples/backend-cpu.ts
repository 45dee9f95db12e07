/** @karakoram/backend-cpu: a WebAssembly SIMD matmul (on worker threads in Node), checked against a plain loop. */
import { ops, setBackend } from '@karakoram/core';
import { createCpuBackend } from '@karakoram/backend-cpu';

const backend = await createCpuBackend();
setBackend(backend);
const [M, K, N] = [256, 256, 256];
const a = ops.randomNormal([M, K], 1);
const b = ops.randomNormal([K, N], 2);
const t0 = performance.now();
const c = ops.matmul(a, b).dataSync();
const ms = performance.now() - t0;
const A = a.dataSync();
const B = b.dataSync();
let ref = 0;
for (let k = 0; k < K; k++) ref += A[k]! * B[k * N]!; // c[0, 0]
console.log(`${M}x${K} @ ${K}x${N} in ${ms.toFixed(1)} ms (${((2 * M * K * N) / ms / 1e6).toFixed(2)} GFLOP/s); c[0,0] = ${c[0]!.toFixed(4)}, reference ${ref.toFixed(4)}`);
if (Math.abs(c[0]! - ref) > 1e-3) throw new Error('matmul mismatch');
await backend.destroy?.();
