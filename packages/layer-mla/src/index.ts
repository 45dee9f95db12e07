export * from './rope.js';
export * from './cache.js';
export * from './mla.js';
export * from './mha.js';
export { MaxLogitRecorder } from './max-logits.js';
