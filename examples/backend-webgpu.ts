/** @karakoram/backend-webgpu: a matmul on WebGPU (Dawn in Node; SwiftShader without a GPU), the cpu backend as fallback. */
import { createRuntime, ops } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { register as registerWebGpu } from '@karakoram/backend-webgpu';

registerCpu();
registerWebGpu();
const { backend, fellBackFrom } = await createRuntime({ backend: { name: 'webgpu', options: {}, fallback: ['cpu'] } });
for (const f of fellBackFrom) console.log(`${f.name} unavailable: ${f.reason.slice(0, 160)}`);
const a = ops.randomNormal([64, 32], 1);
const b = ops.randomNormal([32, 16], 2);
const c = await ops.matmul(a, b).data();
const A = await a.data();
const B = await b.data();
let ref = 0;
for (let k = 0; k < 32; k++) ref += A[k]! * B[k * 16]!;
console.log(`backend ${backend.name}: c[0,0] = ${c[0]!.toFixed(4)}, reference ${ref.toFixed(4)}`);
if (Math.abs(c[0]! - ref) > 1e-3) throw new Error('matmul mismatch');
await backend.destroy?.();
