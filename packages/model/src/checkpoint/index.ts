export * from './validate.js';
export * from './fp8.js';
export { Checkpoint, loadCheckpoint, INDEX_FILE, SINGLE_FILE, type CheckpointSource } from './load.js';
export { planShards, configForSave, type SaveOptions, type ShardPlan } from './save.js';
