import { runConformance } from '@karakoram/backend-conformance';
import { createWebGpuBackend } from '../src/index.js';
import { withAdapter } from './adapter.js';

withAdapter('webgpu conformance', () => {
  runConformance('webgpu', () => createWebGpuBackend());
});
