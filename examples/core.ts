/** @karakoram/core: reverse-mode autodiff on the cpu backend, checked against the analytic gradient. */
import { createRuntime, ops, tidy, valueAndGrads } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';

registerCpu();
await createRuntime({ backend: 'cpu' });

// f(w) = sum((w x)^2), so df/dw = 2 (w x) x^T.
const w = ops.randomNormal([3, 4], 42);
const x = ops.randomNormal([4, 2], 7);
const { value, grads } = valueAndGrads(() => ops.sum(ops.square(ops.matmul(w, x))), [w]);
const analytic = tidy(() => ops.mul(ops.matmul(ops.matmul(w, x), ops.transpose(x, [1, 0])), 2));
const a = grads[0]!.dataSync();
const b = analytic.dataSync();
const err = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
console.log(`f(w) = ${value.dataSync()[0]!.toFixed(4)}, max |autodiff - analytic| = ${err.toExponential(2)}`);
if (err > 1e-4) throw new Error('gradient mismatch');
