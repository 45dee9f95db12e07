import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KarakoramError, readSafetensors, writeSafetensors, type Tensor } from '@karakoram/core';
import { fsyncDir, writeFileAtomic } from '@karakoram/core/node';
import type { ModelConfig } from '@karakoram/model';
import { loadCheckpointDir, saveCheckpoint } from '@karakoram/model/node';

/**
 * A run checkpoint is a folder `checkpoints/step-NNNNNN/` holding `model/` (a plain HF checkpoint
 * in F32, loadable by PyTorch or `karakoram generate`), `optimizer.safetensors` and
 * `trainer_state.json`. It is assembled under a temporary name and renamed into place, and the
 * `latest` file is replaced atomically last, so a crash at any point leaves the previous
 * checkpoint intact and never a half-written one.
 */
export interface TrainerState {
  step: number;
  data: { epoch: number; cursor: number };
  [k: string]: unknown;
}

/** Writes `outDir/checkpoints/step-NNNNNN/` crash-safely, then points `latest` at it; returns its path. */
export async function saveRunCheckpoint(
  outDir: string,
  config: ModelConfig,
  model: ReadonlyMap<string, Tensor>,
  optimizer: ReadonlyMap<string, Tensor>,
  state: TrainerState,
): Promise<string> {
  const root = join(outDir, 'checkpoints');
  await mkdir(root, { recursive: true });
  const name = `step-${String(state.step).padStart(6, '0')}`;
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await saveCheckpoint(join(tmp, 'model'), config, model, { dtype: 'F32' });
  await writeFile(join(tmp, 'optimizer.safetensors'), await writeSafetensors(new Map(optimizer), { dtype: 'F32' }));
  await writeFile(join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2));
  await fsyncDir(tmp);
  const final = join(root, name);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await fsyncDir(root);
  await writeFileAtomic(join(outDir, 'latest'), `checkpoints/${name}\n`);
  return final;
}

/** The checkpoint `latest` points to, or undefined when the run has none yet. */
export async function latestCheckpoint(outDir: string): Promise<string | undefined> {
  const p = join(outDir, 'latest');
  if (!existsSync(p)) return undefined;
  const rel = (await readFile(p, 'utf8')).trim();
  const dir = join(outDir, rel);
  if (!existsSync(join(dir, 'trainer_state.json'))) {
    throw new KarakoramError('checkpoint', `"latest" points to ${rel}, which has no trainer_state.json`, outDir);
  }
  return dir;
}

/** Reads a run checkpoint folder back: model config and weights, optimizer state and trainer state. */
export async function loadRunCheckpoint(dir: string): Promise<{
  config: ModelConfig;
  model: Map<string, Tensor>;
  optimizer: Map<string, Tensor>;
  state: TrainerState;
}> {
  const { config, tensors } = await loadCheckpointDir(join(dir, 'model'));
  const optimizer = readSafetensors(new Uint8Array(await readFile(join(dir, 'optimizer.safetensors'))), { file: join(dir, 'optimizer.safetensors') });
  const state = JSON.parse(await readFile(join(dir, 'trainer_state.json'), 'utf8')) as TrainerState;
  return { config, model: tensors, optimizer, state };
}
