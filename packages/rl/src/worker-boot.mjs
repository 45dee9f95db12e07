// Runs a rollout worker from TypeScript sources (tests, tsx): registers tsx, then loads the entry.
// Built packages start dist/rollout-worker.js directly and never use this file.
import { workerData } from 'node:worker_threads';
const { register } = await import('tsx/esm/api');
register();
await import(workerData.entry);
