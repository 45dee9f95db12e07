export * from './dtypes.js';
export { MAX_HEADER_BYTES, type TensorInfo, type Header } from './header.js';
export * from './reader.js';
export * from './writer.js';
