import { runConformance } from '@karakoram/backend-conformance';
import { createCpuBackend } from '../src/index.js';

runConformance('cpu', async () => await createCpuBackend());
