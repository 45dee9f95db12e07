/** Node-only entry ("@karakoram/model/node"): checkpoints and tokenizers from local files. */
export { dirSource, openCheckpointDir, loadCheckpointDir, saveCheckpoint } from './checkpoint/dir.js';
export { loadTokenizerDir } from './tokenizer/dir.js';
export { loadModelDir, checkpointTokenizer } from './model-dir.js';
