import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SafetensorsError,
  SafetensorsReader,
  bf16ToF32,
  bytesSource,
  decodeSafetensors,
  encodeSafetensors,
  f16ToF32,
  f32ToBf16,
  f8e4m3ToF32,
  type RawTensor,
} from '@karakoram/core';
import { fileSource, writeFileAtomic } from '@karakoram/core/node';

const enc = new TextEncoder();

/** A file from a header string and data bytes, with the 8-byte little-endian length in front. */
function build(header: string, data: number[] = []): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const errorOf = (fn: () => unknown): SafetensorsError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    return e as SafetensorsError;
  }
  throw new Error('expected a SafetensorsError');
};

describe('safetensors interop: a file built byte by byte from the public spec', () => {
  // 310-byte header (not padded: readers must not require alignment), then 30 data bytes.
  const header =
    '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"b":{"dtype":"I64","shape":[1,2],"data_offsets":[8,24]},"c":{"dtype":"BF16","shape":[],"data_offsets":[24,26]},' +
    '"d":{"dtype":"F16","shape":[1],"data_offsets":[26,28]},"e":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[28,30]}}';
  const bytes = new Uint8Array([
    0x36, 0x01, 0, 0, 0, 0, 0, 0, // u64 LE 310
    ...enc.encode(header),
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, // a: f32 1.0, -2.0
    0x07, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // b: i64 7, -3
    0xc0, 0x3f, // c: bf16 0x3fc0 = 1.5
    0x00, 0xb8, // d: f16 0xb800 = -0.5
    0x38, 0xc0, // e: f8 e4m3 0x38 = 1, 0xc0 = -2
  ]);

  it('reads every tensor and the metadata', () => {
    expect(header.length).toBe(310);
    const { tensors, metadata } = decodeSafetensors(bytes, 'fixture.safetensors');
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['a', 'b', 'c', 'd', 'e']);
    const get = (n: string): RawTensor => tensors.get(n)!;
    expect(get('a')).toMatchObject({ dtype: 'f32', shape: [2] });
    expect([...get('a').data]).toEqual([1, -2]);
    expect(get('b')).toMatchObject({ dtype: 'i32', shape: [1, 2] });
    expect([...get('b').data]).toEqual([7, -3]);
    expect(get('c').shape).toEqual([]);
    expect([...get('c').data]).toEqual([1.5]);
    expect([...get('d').data]).toEqual([-0.5]);
    expect([...get('e').data]).toEqual([1, -2]);
  });

  it('reads lazily through a ByteSource, fetching only what is asked', async () => {
    const reads: [number, number][] = [];
    const src = bytesSource(bytes);
    const r = await SafetensorsReader.open({ size: src.size, read: (o, l) => (reads.push([o, l]), src.read(o, l)) }, 'lazy');
    expect(reads).toEqual([[0, 8], [8, 310]]);
    expect(r.info('b')).toMatchObject({ dtype: 'I64', shape: [1, 2], begin: 8, end: 24 });
    expect([...(await r.readRaw('d')).data]).toEqual([-0.5]);
    expect(reads[2]).toEqual([318 + 26, 2]);
    await expect(r.readRaw('zz')).rejects.toThrow(/lazy: no tensor named "zz"/);
  });
});

describe('element conversions against hand-computed values', () => {
  it('bf16 rounds to nearest even on write and widens exactly', () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [1 + 2 ** -8, 0x3f80], // exactly half way, 0x3f80 is even: down
      [1 + 3 * 2 ** -8, 0x3f82], // half way, 0x3f81 is odd: up to even
      [1 + 2 ** -8 + 2 ** -20, 0x3f81], // just above half: up
      [-2.5, 0xc020],
      [Math.fround(Math.PI), 0x4049], // 0x40490fdb: low half < 0x8000
      [3.4028234663852886e38, 0x7f80], // f32 max rounds to +inf
      [-0, 0x8000],
      [Infinity, 0x7f80],
    ];
    for (const [x, bits] of cases) expect([x, f32ToBf16(x).toString(16)]).toEqual([x, bits.toString(16)]);
    expect(f32ToBf16(NaN)).toBe(0x7fc0);
    expect(bf16ToF32(0x4049)).toBe(3.140625);
    expect(bf16ToF32(0x3f81)).toBe(1.0078125);
    expect(bf16ToF32(0xff80)).toBe(-Infinity);
  });

  it('f16 decodes normals, subnormals, inf and NaN', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
  });

  it('f8 e4m3fn decodes with no infinities, NaN only at 0x7f/0xff, max 448', () => {
    expect(f8e4m3ToF32(0x38)).toBe(1);
    expect(f8e4m3ToF32(0x3c)).toBe(1.5);
    expect(f8e4m3ToF32(0x40)).toBe(2);
    expect(f8e4m3ToF32(0x78)).toBe(256); // exponent 15 is finite in the fn variant
    expect(f8e4m3ToF32(0x7e)).toBe(448);
    expect(f8e4m3ToF32(0xfe)).toBe(-448);
    expect(f8e4m3ToF32(0x7f)).toBeNaN();
    expect(f8e4m3ToF32(0xff)).toBeNaN();
    expect(f8e4m3ToF32(0x01)).toBe(2 ** -9);
    expect(f8e4m3ToF32(0x07)).toBe(7 * 2 ** -9);
    expect(f8e4m3ToF32(0x08)).toBe(2 ** -6);
    expect(Object.is(f8e4m3ToF32(0x80), -0)).toBe(true);
  });
});

describe('round trips', () => {
  const values = Float32Array.from([0, -0, 1.5, -3.25, 1e-30, 3.4e38, 1 + 2 ** -8, 1 + 3 * 2 ** -8, Math.PI, Infinity]);
  const ints = Int32Array.from([0, -1, 2 ** 31 - 1, -(2 ** 31), 42, 7]);

  it('F32 and I32 are bit-exact, with metadata and an 8-byte aligned header', () => {
    const input = new Map<string, RawTensor>([
      ['w', { dtype: 'f32', shape: [2, 5], data: values }],
      ['idx', { dtype: 'i32', shape: [6], data: ints }],
      ['empty', { dtype: 'f32', shape: [0, 3], data: new Float32Array(0) }],
    ]);
    const bytes = encodeSafetensors(input, { metadata: { format: 'pt', step: '12' } });
    const n = new DataView(bytes.buffer).getUint32(0, true);
    expect(n % 8).toBe(0);
    expect(bytes[8 + n - 1]).toBe(0x20); // padded with spaces
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt', step: '12' });
    const w = tensors.get('w')!;
    expect(w.shape).toEqual([2, 5]);
    expect(new Uint32Array(w.data.buffer)).toEqual(new Uint32Array(values.buffer));
    expect(tensors.get('idx')!.data).toEqual(ints);
    expect(tensors.get('empty')!.shape).toEqual([0, 3]);
  });

  it('BF16 stores the round-to-nearest-even value', () => {
    const bytes = encodeSafetensors(new Map([['w', { dtype: 'f32' as const, shape: [values.length], data: values }]]), { dtype: 'BF16' });
    const got = decodeSafetensors(bytes).tensors.get('w')!.data;
    const expected = [0, -0, 1.5, -3.25, bf16ToF32(f32ToBf16(1e-30)), Infinity, 1, 1.015625, 3.140625, Infinity];
    expect([...got]).toEqual(expected);
    expect(Object.is(got[1], -0)).toBe(true);
  });

  it('writes atomically and reads back lazily from a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kk-st-'));
    const path = join(dir, 'model.safetensors');
    await writeFileAtomic(path, encodeSafetensors(new Map([['x', { dtype: 'f32' as const, shape: [3], data: Float32Array.from([1, 2, 3]) }]])));
    expect(await readdir(dir)).toEqual(['model.safetensors']); // no temp file left behind
    const r = await SafetensorsReader.open(await fileSource(path), path);
    expect([...(await r.readRaw('x')).data]).toEqual([1, 2, 3]);
    await r.close();
    // A file truncated on disk is refused with its path.
    const whole = await readFile(path);
    await writeFile(path, whole.subarray(0, whole.length - 4));
    await expect(SafetensorsReader.open(await fileSource(path), path)).rejects.toThrow(/model\.safetensors: tensor "x": data_offsets \[0, 12\] run past the data section/);
  });
});

describe('corrupt files are refused, naming what and where', () => {
  const f32 = (name: string, begin: number, end: number, shape = [(end - begin) / 4]): string =>
    `"${name}":{"dtype":"F32","shape":${JSON.stringify(shape)},"data_offsets":[${begin},${end}]}`;
  const zeros = (n: number): number[] => new Array<number>(n).fill(0);
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', new Uint8Array([1, 0, 0]), /bad\.safetensors: truncated file: 3 bytes/],
    ['header length beyond the file', (() => { const b = build('{}'); new DataView(b.buffer).setUint32(0, 500, true); return b; })(), /header length 500 runs beyond the end of the file \(10 bytes\)/],
    ['huge header length', (() => { const b = build('{}'); new DataView(b.buffer).setUint32(4, 1, true); return b; })(), /header length 4294967298 is over/],
    ['header not JSON', build('{"a": '), /bad\.safetensors: header is not JSON/],
    ['header not an object', build('[1,2]'), /header must be a JSON object, got an array/],
    ['header not UTF-8', (() => { const b = build('{"\u00e9":1}'); b[11] = 0xff; return b; })(), /header is not valid UTF-8/],
    ['unknown dtype', build(`{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, [0]), /tensor "w": unknown dtype "Q4"/],
    ['unsupported dtype', build(`{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, zeros(8)), /tensor "w": unsupported dtype "F64"/],
    ['shape and bytes disagree', build(`{${f32('w', 0, 8, [3])}}`, zeros(8)), /tensor "w": F32\[3\] needs 12 bytes but data_offsets \[0, 8\] hold 8/],
    ['bad shape', build(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, zeros(4)), /tensor "w": shape must be an array of non-negative integers/],
    ['offsets past the data', build(`{${f32('w', 0, 16)}}`, zeros(8)), /tensor "w": data_offsets \[0, 16\] run past the data section \(8 bytes\)/],
    ['overlapping offsets', build(`{${f32('a', 0, 8)},${f32('b', 4, 12)}}`, zeros(12)), /tensor "b": data_offsets \[4, 12\] overlap the previous tensor, which ends at 8/],
    ['a gap between tensors', build(`{${f32('a', 0, 4)},${f32('b', 8, 12)}}`, zeros(12)), /tensor "b": gap: data_offsets begin at 8 but the previous tensor ends at 4/],
    ['data not starting at 0', build(`{${f32('a', 4, 8)}}`, zeros(8)), /tensor "a": gap: data_offsets begin at 4/],
    ['trailing bytes', build(`{${f32('a', 0, 4)}}`, zeros(8)), /data section has 8 bytes but the tensors cover only 4/],
    ['duplicate names', build(`{${f32('a', 0, 4)},${f32('a', 4, 8)}}`, zeros(8)), /tensor "a": duplicate tensor name/],
    ['metadata not strings', build(`{"__metadata__":{"step":3}}`), /__metadata__\."step" must be a string/],
    ['I64 out of i32 range', build(`{"i":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}`, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0]), /tensor "i": I64 element 1 = 2147483648 does not fit in i32/],
  ];
  for (const [what, bytes, message] of cases) {
    it(what, () => {
      const e = errorOf(() => decodeSafetensors(bytes, 'bad.safetensors'));
      expect(e.message).toMatch(message);
      expect(e.message.startsWith('bad.safetensors')).toBe(true);
      expect(e.code).toBe('safetensors');
    });
  }

  it('refuses bad input on write too', () => {
    expect(() => encodeSafetensors(new Map([['w', { dtype: 'f32' as const, shape: [3], data: new Float32Array(2) }]]), { file: 'out' })).toThrow(
      /out: tensor "w": 2 values do not fill shape \[3\]/,
    );
    expect(() => encodeSafetensors(new Map([['w', { dtype: 'F8_E4M3' as const, shape: [3], bytes: new Uint8Array(2) }]]))).toThrow(/F8_E4M3\[3\] needs 3 bytes, got 2/);
  });
});
