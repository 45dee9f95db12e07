import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MismatchError, bf16ToF32, encodeSafetensors, f32ToBf16, getBackend, setBackend, type RawTensor, type StoredTensor } from '@karakoram/core';
import { CpuBackend } from '@karakoram/backend-cpu';
import { expectedTensorShapes, parseModelConfig, preset, validateCheckpoint } from '../src/index.js';
import { loadCheckpointDir, openCheckpointDir, saveCheckpoint } from '../src/node.js';

setBackend(new CpuBackend()); // the synchronous JS backend: no wasm workers needed for I/O tests
const tmp = (): Promise<string> => mkdtemp(join(tmpdir(), 'kk-ckpt-'));

/** Deterministic values with varied exponents and signs (not all bf16-representable). */
function randomState(shapes: Map<string, number[]>, seed = 1): Map<string, RawTensor> {
  let s = seed >>> 0;
  const next = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 3;
  return new Map([...shapes].map(([name, shape]) => [name, { dtype: 'f32' as const, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next) }]));
}

const bits = (a: ArrayLike<number>): Uint32Array => new Uint32Array(Float32Array.from(a).buffer);

describe('save and load', () => {
  const cfg = preset('tiny');
  const state = randomState(expectedTensorShapes(cfg));

  it('round-trips a sharded F32 checkpoint bit-exactly, with an index', async () => {
    const dir = join(await tmp(), 'ckpt');
    const { files } = await saveCheckpoint(dir, cfg, state, { dtype: 'F32', shardBytes: 40_000 });
    expect(files.length).toBeGreaterThan(3);
    expect(files).toContain('model.safetensors.index.json');
    expect(files[0]).toMatch(/^model-00001-of-0000\d\.safetensors$/);
    const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(Object.keys(index.weight_map)).toHaveLength(state.size);
    expect(index.metadata.total_size).toBe([...state.values()].reduce((a, t) => a + t.data.length * 4, 0));
    expect((await readdir(join(dir, '..'))).filter((f) => f.startsWith('.'))).toEqual([]); // no temp dir left
    const { config, tensors, skipped } = await loadCheckpointDir(dir);
    expect(skipped).toEqual([]);
    expect(config.torch_dtype).toBe('float32');
    expect({ ...config, torch_dtype: undefined }).toEqual({ ...parseModelConfig(cfg), torch_dtype: undefined });
    expect([...tensors.keys()].sort()).toEqual([...state.keys()].sort());
    for (const [name, raw] of state) {
      const t = tensors.get(name)!;
      expect(t.shape).toEqual(raw.shape);
      expect(bits(t.dataSync())).toEqual(bits(raw.data));
    }
  });

  it('loads a BF16 checkpoint as the nearest-even bf16 values', async () => {
    const dir = join(await tmp(), 'bf16');
    expect((await saveCheckpoint(dir, cfg, state)).files).toEqual(['model.safetensors', 'config.json']); // BF16 by default, one file
    const ck = await openCheckpointDir(dir);
    expect(ck.storedDType('model.embed_tokens.weight')).toBe('BF16');
    const name = 'model.layers.1.mlp.experts.3.up_proj.weight';
    const got = (await ck.tensor(name)).dataSync();
    expect(bits(got)).toEqual(bits(Array.from(state.get(name)!.data, (x) => bf16ToF32(f32ToBf16(x)))));
    await ck.close();
  });

  it('replaces an existing checkpoint whole, keeping files it does not own', async () => {
    const dir = join(await tmp(), 'again');
    await saveCheckpoint(dir, cfg, state, { dtype: 'F32', shardBytes: 40_000 });
    await writeFile(join(dir, 'tokenizer.json'), '{}');
    await saveCheckpoint(dir, cfg, state, { dtype: 'BF16' });
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
  });

  it('a failed save leaves the old checkpoint untouched and no temporary files', async () => {
    const parent = await tmp();
    const dir = join(parent, 'keep');
    await saveCheckpoint(dir, cfg, state);
    const before = await readFile(join(dir, 'model.safetensors'));
    const bad = new Map(state);
    bad.set('lm_head.weight', { dtype: 'f32', shape: [64, 32], data: new Float32Array(5) });
    await expect(saveCheckpoint(dir, cfg, bad)).rejects.toThrow(/tensor "lm_head.weight": 5 values do not fill shape \[64, 32\]/);
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(before);
    expect(await readdir(parent)).toEqual(['keep']);
  });
});

describe('FP8 block-scaled weights and MTP layers', () => {
  // [130, 260]: 2 x 3 blocks of 128, the last row block 2 rows high and the last column block 4 wide.
  const rows = 130;
  const cols = 260;
  const codes = [0x38, 0x40, 0xb8, 0x30]; // e4m3: 1, 2, -1, 0.5
  const values = [1, 2, -1, 0.5];
  const fp8 = (r: number, c: number): StoredTensor => ({
    dtype: 'F8_E4M3',
    shape: [r, c],
    bytes: Uint8Array.from({ length: r * c }, (_, k) => codes[(Math.floor(k / c) + (k % c)) % 4]!),
  });
  const scale = (data: number[], shape: number[]): RawTensor => ({ dtype: 'f32', shape, data: Float32Array.from(data) });
  const W = 'model.layers.0.mlp.down_proj.weight';
  const MTP = 'model.layers.3.self_attn.o_proj.weight'; // tiny has 3 layers: index 3 is an MTP layer

  async function fixture(tensors: Map<string, RawTensor | StoredTensor>): Promise<string> {
    const dir = await tmp();
    const config = { ...preset('tiny'), quantization_config: { quant_method: 'fp8', fmt: 'e4m3', weight_block_size: [128, 128] } };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
    return dir;
  }

  it('dequantizes with the block scale of each element, edge blocks included, and skips MTP', async () => {
    const s = [11, 12, 13, 21, 22, 23]; // S[bi][bj] = 10*(bi+1) + (bj+1)
    const dir = await fixture(new Map<string, RawTensor | StoredTensor>([
      [W, fp8(rows, cols)],
      [`${W}_scale_inv`, scale(s, [2, 3])],
      ['model.norm.weight', { dtype: 'f32', shape: [2], data: Float32Array.from([1, 2]) }],
      [MTP, fp8(4, 4)],
      [`${MTP}_scale_inv`, scale([1], [1, 1])],
    ]));
    const ck = await openCheckpointDir(dir);
    expect(ck.names()).toEqual([W, 'model.norm.weight']);
    expect(ck.skipped).toEqual([MTP, `${MTP}_scale_inv`]);
    const w = (await ck.tensor(W)).dataSync();
    const at = (i: number, j: number): number => w[i * cols + j]!;
    expect(at(0, 0)).toBe(11); // 1 * S[0][0]
    expect(at(127, 127)).toBe(-11); // (127+127)%4 = 2 -> -1
    expect(at(5, 200)).toBe(24); // 205%4 = 1 -> 2, block (0, 1) -> 12
    expect(at(128, 0)).toBe(21); // second row block
    expect(at(129, 256)).toBe(46); // 385%4 = 1 -> 2, partial corner block -> 23
    expect(at(129, 259)).toBe(23);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const want = values[(i + j) % 4]! * s[Math.floor(i / 128) * 3 + Math.floor(j / 128)]!;
        if (at(i, j) !== want) throw new Error(`w[${i}, ${j}] = ${at(i, j)}, expected ${want}`);
      }
    }
    await expect(ck.tensor(`${W}_scale_inv`)).rejects.toThrow(/an FP8 scale, applied on read/);
    await expect(ck.tensor(MTP)).rejects.toThrow(/an MTP layer, skipped/);
    await ck.close();
  });

  it('refuses an FP8 weight without scales, or with scales of the wrong shape', async () => {
    await expect(openCheckpointDir(await fixture(new Map([[W, fp8(rows, cols)]])))).rejects.toThrow(
      /FP8 weight "model.layers.0.mlp.down_proj.weight" has no "model.layers.0.mlp.down_proj.weight_scale_inv" block scales/,
    );
    const wrong = new Map<string, RawTensor | StoredTensor>([[W, fp8(rows, cols)], [`${W}_scale_inv`, scale([1, 2], [1, 2])]]);
    await expect(openCheckpointDir(await fixture(wrong))).rejects.toThrow(/tensor "model.layers.0.mlp.down_proj.weight": _scale_inv has shape \[1, 2\], expected \[2, 3\] for \[130, 260\] in 128x128 blocks/);
  });
});

describe('validation', () => {
  it('lists missing, unexpected and wrong-shape tensors', () => {
    const expected = new Map([['a', [2, 3]], ['b', [4]], ['c', [1]]]);
    const found = new Map([['a', [3, 2]], ['c', [1]], ['d', [5]]]);
    expect(validateCheckpoint(expected, found)).toEqual([
      { kind: 'shape', name: 'a', expected: [2, 3], found: [3, 2] },
      { kind: 'missing', name: 'b', expected: [4] },
      { kind: 'unexpected', name: 'd', found: [5] },
    ]);
    expect(validateCheckpoint(expected, expected)).toEqual([]);
  });

  it('refuses a checkpoint that does not match its config, listing everything, loading nothing', async () => {
    const cfg = preset('tiny');
    const state = randomState(expectedTensorShapes(cfg));
    state.delete('model.layers.2.mlp.experts.7.up_proj.weight');
    state.set('model.layers.0.self_attn.o_proj.weight', { dtype: 'f32', shape: [32, 8], data: new Float32Array(256) });
    state.set('model.layers.0.self_attn.rotary_emb.inv_freq', { dtype: 'f32', shape: [2], data: new Float32Array(2) });
    const dir = join(await tmp(), 'bad');
    await saveCheckpoint(dir, cfg, state, { dtype: 'F32' });
    const buffers = getBackend().memory().buffers;
    const err = await loadCheckpointDir(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MismatchError);
    const msg = (err as Error).message;
    expect(msg).toContain('3 mismatch(es)');
    expect(msg).toContain('wrong shape for model.layers.0.self_attn.o_proj.weight: [32, 8], expected [32, 16]');
    expect(msg).toContain('missing model.layers.2.mlp.experts.7.up_proj.weight [16, 32]');
    expect(msg).toContain('unexpected model.layers.0.self_attn.rotary_emb.inv_freq [2]');
    expect(getBackend().memory().buffers).toBe(buffers);
  });

  it('refuses an index that disagrees with its shards', async () => {
    const cfg = preset('tiny');
    const dir = join(await tmp(), 'idx');
    await saveCheckpoint(dir, cfg, randomState(expectedTensorShapes(cfg)), { shardBytes: 20_000 });
    const path = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(path, 'utf8'));
    const first = index.weight_map['model.embed_tokens.weight'];
    expect(index.weight_map['model.norm.weight']).not.toBe(first);
    index.weight_map['model.norm.weight'] = first;
    await writeFile(path, JSON.stringify(index));
    await expect(openCheckpointDir(dir)).rejects.toThrow(new RegExp(`holds "model.norm.weight" but model.safetensors.index.json puts it in ${first}`));
    delete index.weight_map['model.norm.weight'];
    await writeFile(path, JSON.stringify(index));
    await expect(openCheckpointDir(dir)).rejects.toThrow(/holds "model.norm.weight" but model.safetensors.index.json does not list it/);
    const empty = await tmp();
    await writeFile(join(empty, 'config.json'), JSON.stringify(cfg));
    await expect(openCheckpointDir(empty)).rejects.toThrow(/neither model.safetensors nor model.safetensors.index.json found/);
  });
});
