/**
 * Checkpoints in a local directory (Node only; exported from "@karakoram/model/node").
 * Saving is crash-safe: everything is written and fsynced in a temporary sibling directory,
 * which then replaces the target by rename, so `dir` holds the old checkpoint or the whole new
 * one, never a half-written one.
 */
import { cp, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeSafetensors, type RawTensor, type Tensor } from '@karakoram/core';
import { fileSource, fsyncDir, writeFileAtomic } from '@karakoram/core/node';
import type { ModelConfig } from '../config.js';
import { Checkpoint, loadCheckpoint, type CheckpointSource } from './load.js';
import { INDEX_FILE, configForSave, planShards, type SaveOptions } from './save.js';

export function dirSource(dir: string): CheckpointSource {
  const root = resolve(dir);
  return {
    name: root,
    has: async (file) => (await stat(join(root, file)).catch(() => undefined))?.isFile() === true,
    readText: (file) => readFile(join(root, file), 'utf8'),
    open: (file) => fileSource(join(root, file)),
  };
}

export const openCheckpointDir = (dir: string): Promise<Checkpoint> => Checkpoint.open(dirSource(dir));
export const loadCheckpointDir = (dir: string): ReturnType<typeof loadCheckpoint> => loadCheckpoint(dirSource(dir));

/** Files a save owns: replaced by the new checkpoint. Anything else in `dir` (tokenizer files...) is kept. */
const OWNED = /^(config\.json|model\.safetensors\.index\.json|model(-\d+-of-\d+)?\.safetensors)$/;

export async function saveCheckpoint(
  dir: string,
  config: ModelConfig,
  tensors: ReadonlyMap<string, Tensor | RawTensor>,
  opts: SaveOptions = {},
): Promise<{ files: string[] }> {
  const target = resolve(dir);
  const parent = dirname(target);
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${tag}`);
  const dtype = opts.dtype ?? 'BF16';
  const plan = planShards(tensors, opts);
  await mkdir(tmp, { recursive: true });
  try {
    const files: string[] = [];
    for (const shard of plan.shards) {
      const group = new Map(shard.names.map((n) => [n, tensors.get(n)!]));
      // One shard in memory at a time.
      await writeFileAtomic(join(tmp, shard.file), await writeSafetensors(group, { dtype, metadata: { format: 'pt' }, file: shard.file }));
      files.push(shard.file);
    }
    if (plan.index) {
      await writeFileAtomic(join(tmp, INDEX_FILE), JSON.stringify(plan.index, null, 2) + '\n');
      files.push(INDEX_FILE);
    }
    await writeFileAtomic(join(tmp, 'config.json'), JSON.stringify(configForSave(config, dtype), null, 2) + '\n');
    files.push('config.json');
    await commit(tmp, target, tag);
    return { files };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Swaps the finished temporary directory in, keeping files of the old directory that a save does not own. */
async function commit(tmp: string, target: string, tag: string): Promise<void> {
  const old = await readdir(target).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (old === undefined) {
    await rename(tmp, target);
    await fsyncDir(dirname(target));
    return;
  }
  for (const f of old) if (!OWNED.test(f)) await cp(join(target, f), join(tmp, f), { recursive: true, preserveTimestamps: true });
  await fsyncDir(tmp);
  // Between these two renames `target` is briefly absent; the complete old and new checkpoints both exist.
  const aside = join(dirname(target), `.${basename(target)}.old-${tag}`);
  await rename(target, aside);
  await rename(tmp, target);
  await fsyncDir(dirname(target));
  await rm(aside, { recursive: true, force: true });
}
