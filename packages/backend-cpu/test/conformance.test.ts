import { runConformance } from '@karakoram/backend-conformance';
import { CpuBackend } from '../src/backend.js';
import { createCpuBackend } from '../src/index.js';

runConformance('cpu', async () => await createCpuBackend());

// The same suite through core's composite defaults (a backend without fused kernels, as a new
// backend starts), and with a fused attention forward but no fused backward (the gradient rule's
// composite branch), so both halves of every optional kernel stay checked.
runConformance('cpu without fused kernels', () => {
  const b = new CpuBackend();
  (b as { fused?: unknown }).fused = undefined;
  return b;
});
runConformance('cpu with fused forwards only', () => {
  const b = new CpuBackend();
  const { softmax, logSoftmax, rmsNorm, attention } = b.fused;
  (b as { fused?: unknown }).fused = { softmax, logSoftmax, rmsNorm, attention };
  return b;
});
