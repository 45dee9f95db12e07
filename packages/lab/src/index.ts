export * from './config.js';
export * from './corpus.js';
export * from './flops.js';
export * from './stats.js';
export * from './sweep.js';
export * from './report.js';
