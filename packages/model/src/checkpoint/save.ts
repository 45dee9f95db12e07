/**
 * How a state dict is laid out on disk in HF form: one model.safetensors, or shards
 * model-00001-of-0000N.safetensors plus model.safetensors.index.json when it is bigger than
 * `shardBytes`. Pure planning (no I/O), so any writer can follow it.
 */
import { KarakoramError, sizeOf } from '@karakoram/core';
import type { ModelConfig } from '../config.js';
import { INDEX_FILE, SINGLE_FILE } from './load.js';

/** How a model is written as a Hugging Face checkpoint: float storage dtype and shard size. */
export interface SaveOptions {
  /** How float tensors are stored (default BF16, as the public checkpoints are); integer tensors are I32. */
  dtype?: 'F32' | 'BF16';
  /** Split into shards of at most this many bytes (a single larger tensor gets a shard of its own). */
  shardBytes?: number;
}

/** Which tensors go to which file (HF `model-0000i-of-0000n` names), plus the index when sharded. */
export interface ShardPlan {
  shards: { file: string; names: string[]; bytes: number }[];
  /** The index file's content when sharded. */
  index?: { metadata: { total_size: number }; weight_map: Record<string, string> };
}

/**
 * Groups tensors, in order, into shards of at most `shardBytes` (at the stored dtype), without
 * writing anything; one group becomes a single model.safetensors with no index.
 */
export function planShards(tensors: ReadonlyMap<string, { dtype: 'f32' | 'i32'; shape: readonly number[] }>, opts: SaveOptions = {}): ShardPlan {
  const floatBytes = (opts.dtype ?? 'BF16') === 'BF16' ? 2 : 4;
  const limit = opts.shardBytes ?? Infinity;
  if (!(limit > 0)) throw new KarakoramError('checkpoint', `shardBytes must be positive, got ${opts.shardBytes}`);
  const groups: { names: string[]; bytes: number }[] = [];
  let cur: { names: string[]; bytes: number } | undefined;
  let total = 0;
  for (const [name, t] of tensors) {
    const b = sizeOf(t.shape) * (t.dtype === 'i32' ? 4 : floatBytes);
    total += b;
    if (!cur || (cur.names.length > 0 && cur.bytes + b > limit)) groups.push((cur = { names: [], bytes: 0 }));
    cur.names.push(name);
    cur.bytes += b;
  }
  if (groups.length <= 1) return { shards: [{ file: SINGLE_FILE, names: groups[0]?.names ?? [], bytes: total }] };
  const n = groups.length;
  const pad = (i: number): string => String(i).padStart(5, '0');
  const shards = groups.map((g, i) => ({ file: `model-${pad(i + 1)}-of-${pad(n)}.safetensors`, ...g }));
  const weight_map: Record<string, string> = {};
  for (const s of shards) for (const name of s.names) weight_map[name] = s.file;
  // HF writes the map sorted by tensor name.
  const sorted = Object.fromEntries(Object.entries(weight_map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { shards, index: { metadata: { total_size: total }, weight_map: sorted } };
}

/** config.json as saved: the config with torch_dtype telling readers how the floats are stored. */
export function configForSave(config: ModelConfig, dtype: 'F32' | 'BF16'): Record<string, unknown> {
  const { quantization_config: _dropped, ...rest } = config;
  // The weights we write are never FP8, so a quantization_config carried over would mislead loaders.
  return { ...rest, torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32' };
}

export { INDEX_FILE };
