import { installTapeOps } from '../autodiff/tape.js';
import { add, onesLike, zerosLike } from './math.js';

installTapeOps({ add, onesLike, zerosLike });

export * from './math.js';
export * from './nn.js';
export { matmul3, sumTo } from './primitives.js';
export { toBackend } from './transfer.js';
