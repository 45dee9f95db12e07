/**
 * Node-only file helpers, kept out of the root entry so @karakoram/core stays browser-safe.
 * Import as "@karakoram/core/node".
 */
export { fileSource, type FileSource } from './file-source.js';
export { writeFileAtomic, fsyncDir } from './atomic.js';
