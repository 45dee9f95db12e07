export * from './types.js';
export * from './byte.js';
export * from './tiktoken.js';
export * from './hf.js';
