export * from './mlp.js';
export * from './moe.js';
