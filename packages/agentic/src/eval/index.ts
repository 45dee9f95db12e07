export * from './metrics.js';
export * from './runner.js';
