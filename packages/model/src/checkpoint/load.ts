/**
 * Opening a Hugging Face checkpoint (config.json + model.safetensors, or shards listed by
 * model.safetensors.index.json) without reading its weights: the headers give every name, dtype
 * and shape, and each tensor is read when asked for. FP8 weights are dequantized with their block
 * scales on read; MTP layers (index >= num_hidden_layers) are left out and reported.
 */
import { KarakoramError, SafetensorsReader, getBackend, toTensor, type Backend, type ByteSource, type RawTensor, type Tensor, type TensorInfo } from '@karakoram/core';
import { parseModelConfig, type ModelConfig } from '../config.js';
import { expectedTensorShapes, layerIndex } from '../shapes.js';
import { SCALE_SUFFIX, blockSizeOf, checkFp8Pair, dequantizeBlocks } from './fp8.js';
import { assertCheckpointMatches } from './validate.js';

/** Where a checkpoint's files come from: a directory (see @karakoram/model/node), HTTP, a browser's files. */
export interface CheckpointSource {
  /** A name for errors: the directory or URL. */
  readonly name: string;
  /** Whether `file` exists in the checkpoint. */
  has(file: string): Promise<boolean>;
  /** A whole file as text (config.json, the shard index). */
  readText(file: string): Promise<string>;
  /** A random-access byte source over `file` (a safetensors shard). */
  open(file: string): Promise<ByteSource>;
}

/** The shard index of a multi-file checkpoint (its weight_map says which shard holds each tensor). */
export const INDEX_FILE = 'model.safetensors.index.json';
/** The weights file of a single-file checkpoint. */
export const SINGLE_FILE = 'model.safetensors';

interface Location {
  reader: SafetensorsReader;
  info: TensorInfo;
  scale?: { reader: SafetensorsReader; info: TensorInfo };
}

/**
 * An opened Hugging Face checkpoint: parsed config and every shard's header, with tensors read
 * lazily (FP8 weights dequantized on read, MTP layers skipped). Create with Checkpoint.open.
 */
export class Checkpoint {
  private constructor(
    readonly source: CheckpointSource,
    readonly config: ModelConfig,
    /** config.json as written, unknown keys included. */
    readonly rawConfig: Record<string, unknown>,
    private readonly where: Map<string, Location>,
    /** Tensors left out: MTP layers and their scales. */
    readonly skipped: readonly string[],
    private readonly readers: SafetensorsReader[],
  ) {}

  /** Reads config.json and every shard header, checking the index against the shards; reads no weights. */
  static async open(source: CheckpointSource): Promise<Checkpoint> {
    const rawConfig = await readJson(source, 'config.json');
    const config = parseModelConfig(rawConfig, `${source.name}/config.json`);
    const files = await shardFiles(source);
    const readers: SafetensorsReader[] = [];
    try {
      for (const f of files.list) readers.push(await SafetensorsReader.open(await source.open(f), `${source.name}/${f}`));
      const all = new Map<string, { reader: SafetensorsReader; info: TensorInfo }>();
      for (const [k, reader] of readers.entries()) {
        for (const info of reader.tensors.values()) {
          const prev = all.get(info.name);
          if (prev) throw new KarakoramError('checkpoint', `tensor "${info.name}" is in both ${prev.reader.file} and ${reader.file}`, source.name);
          const listed = files.map?.get(info.name);
          if (files.map && listed !== files.list[k]) {
            throw new KarakoramError('checkpoint', `${reader.file} holds "${info.name}" but ${INDEX_FILE} ${listed ? `puts it in ${listed}` : 'does not list it'}`, source.name);
          }
          all.set(info.name, { reader, info });
        }
      }
      if (files.map) {
        for (const [name, file] of files.map) {
          if (!all.has(name)) throw new KarakoramError('checkpoint', `${INDEX_FILE} puts "${name}" in ${file}, which does not hold it`, source.name);
        }
      }
      const { where, skipped } = arrange(all, config, source.name);
      return new Checkpoint(source, config, rawConfig, where, skipped, readers);
    } catch (e) {
      await Promise.all(readers.map((r) => r.close()));
      throw e;
    }
  }

  /** Model tensor names (FP8 scales and MTP layers excluded), in file order. */
  names(): string[] {
    return [...this.where.keys()];
  }
  /** Name -> shape of every model tensor, as found. */
  shapes(): Map<string, number[]> {
    return new Map([...this.where].map(([n, l]) => [n, [...l.info.shape]]));
  }
  /** The stored dtype of a tensor (F8_E4M3 for a block-scaled weight). */
  storedDType(name: string): TensorInfo['dtype'] {
    return this.locate(name).info.dtype;
  }

  /** One tensor widened to f32/i32, dequantized if FP8. */
  async raw(name: string): Promise<RawTensor> {
    const loc = this.locate(name);
    const raw = await loc.reader.readRaw(name);
    if (!loc.scale) return raw;
    const scale = await loc.scale.reader.readRaw(loc.scale.info.name);
    const block = blockSizeOf(this.config.quantization_config);
    return { dtype: 'f32', shape: raw.shape, data: dequantizeBlocks(raw.data as Float32Array, raw.shape, scale.data as Float32Array, block) };
  }
  /** One tensor (dequantized if FP8) uploaded to `backend` (the current one by default). */
  async tensor(name: string, backend: Backend = getBackend()): Promise<Tensor> {
    return toTensor(await this.raw(name), backend);
  }

  /**
   * Checks every name and shape against the config first (nothing is read when anything is
   * off), then reads the tensors one at a time.
   */
  async loadAll(backend: Backend = getBackend()): Promise<Map<string, Tensor>> {
    assertCheckpointMatches(expectedTensorShapes(this.config), this.shapes(), this.source.name);
    const out = new Map<string, Tensor>();
    try {
      for (const name of this.where.keys()) out.set(name, await this.tensor(name, backend));
    } catch (e) {
      for (const t of out.values()) t.dispose();
      throw e;
    }
    return out;
  }

  /** Closes every shard's byte source. */
  async close(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.close()));
  }

  private locate(name: string): Location {
    const loc = this.where.get(name);
    if (!loc) {
      const why = this.skipped.includes(name) ? ' (an MTP layer, skipped)' : name.endsWith(SCALE_SUFFIX) ? ' (an FP8 scale, applied on read)' : '';
      throw new KarakoramError('checkpoint', `no model tensor "${name}"${why}`, this.source.name);
    }
    return loc;
  }
}

/** Opens, validates against the config and reads every tensor; closes the files. */
export async function loadCheckpoint(source: CheckpointSource, backend?: Backend): Promise<{ config: ModelConfig; tensors: Map<string, Tensor>; skipped: readonly string[] }> {
  const ckpt = await Checkpoint.open(source);
  try {
    return { config: ckpt.config, tensors: await ckpt.loadAll(backend), skipped: ckpt.skipped };
  } finally {
    await ckpt.close();
  }
}

async function readJson(source: CheckpointSource, file: string): Promise<Record<string, unknown>> {
  if (!(await source.has(file))) throw new KarakoramError('checkpoint', `no ${file}`, source.name);
  const text = await source.readText(file);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new KarakoramError('checkpoint', `${file} is not JSON (${(e as Error).message})`, source.name);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new KarakoramError('checkpoint', `${file} must hold a JSON object`, source.name);
  return v as Record<string, unknown>;
}

async function shardFiles(source: CheckpointSource): Promise<{ list: string[]; map?: Map<string, string> }> {
  if (await source.has(INDEX_FILE)) {
    const index = await readJson(source, INDEX_FILE);
    const wm = index.weight_map;
    if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) throw new KarakoramError('checkpoint', `${INDEX_FILE} has no weight_map object`, source.name);
    const map = new Map<string, string>();
    for (const [name, file] of Object.entries(wm)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) {
        throw new KarakoramError('checkpoint', `${INDEX_FILE}: weight_map["${name}"] must be a file name in the directory, got ${JSON.stringify(file)}`, source.name);
      }
      map.set(name, file);
    }
    const list = [...new Set(map.values())];
    for (const f of list) if (!(await source.has(f))) throw new KarakoramError('checkpoint', `${INDEX_FILE} lists ${f}, which does not exist`, source.name);
    return { list, map };
  }
  if (await source.has(SINGLE_FILE)) return { list: [SINGLE_FILE] };
  throw new KarakoramError('checkpoint', `neither ${SINGLE_FILE} nor ${INDEX_FILE} found`, source.name);
}

/** Pairs FP8 weights with their scales and sets MTP layers aside. */
function arrange(all: Map<string, { reader: SafetensorsReader; info: TensorInfo }>, config: ModelConfig, name: string): { where: Map<string, Location>; skipped: string[] } {
  const where = new Map<string, Location>();
  const skipped: string[] = [];
  const block = blockSizeOf(config.quantization_config);
  for (const [n, loc] of all) {
    const layer = layerIndex(n);
    if (layer !== undefined && layer >= config.num_hidden_layers) {
      skipped.push(n);
      continue;
    }
    if (n.endsWith(SCALE_SUFFIX)) {
      const owner = all.get(n.slice(0, -SCALE_SUFFIX.length));
      if (!owner || owner.info.dtype !== 'F8_E4M3') throw new KarakoramError('checkpoint', `"${n}" scales no FP8 weight`, name);
      continue;
    }
    if (loc.info.dtype !== 'F8_E4M3') {
      where.set(n, loc);
      continue;
    }
    const scale = all.get(n + SCALE_SUFFIX);
    if (!scale) throw new KarakoramError('checkpoint', `FP8 weight "${n}" has no "${n}${SCALE_SUFFIX}" block scales`, name);
    if (scale.info.dtype !== 'F32' && scale.info.dtype !== 'BF16') throw new KarakoramError('checkpoint', `"${n}${SCALE_SUFFIX}" must be F32, got ${scale.info.dtype}`, name);
    checkFp8Pair(loc.info.shape, scale.info.shape, block, `${loc.reader.file}: tensor "${n}"`);
    where.set(n, { ...loc, scale });
  }
  return { where, skipped };
}
