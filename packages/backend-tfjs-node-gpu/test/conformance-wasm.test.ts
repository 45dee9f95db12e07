import { runConformance } from '@karakoram/backend-conformance';
import { createTfjsBackend } from '../src/index.js';

runConformance('tfjs-node-gpu on tfjs-backend-wasm', () => createTfjsBackend({ tfjsBackend: 'wasm' }));
