import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The CLI as a user runs it: the built bin in a child process (the test command builds first),
 * checking exit codes, outputs, and that failures are one clear line without a stack trace.
 */
const run = promisify(execFile);
const BIN = resolve(__dirname, '../dist/bin.js');

async function karakoram(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { maxBuffer: 1 << 28, env: { ...process.env, KARAKORAM_DEBUG: '' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const noStack = (s: string): void => expect(s).not.toMatch(/\n\s+at /);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'karakoram-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tinyTrain = (out: string, steps: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  backend: 'cpu',
  seed: 3,
  model: { preset: 'tiny', overrides: { vocab_size: 261 } },
  data: { text: 'corpus.txt', tokenizer: 'byte' },
  optimizer: { name: 'muonclip', lr: 0.02, tau: 5 },
  steps,
  batchSize: 2,
  seqLen: 16,
  heldOut: 0.1,
  out,
  ...extra,
});

describe('karakoram CLI', () => {
  it('params: DeepSeek-V3 has 671,026,419,200 parameters', async () => {
    const r = await karakoram(['params', '--preset', 'deepseek-v3', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).total).toBe(671_026_419_200);
  });

  it('cost: compares head counts at a context length', async () => {
    const r = await karakoram(['cost', '--preset', 'kimi-k2', '--context', '131072', '--heads', '128', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.alternative.heads).toBe(128);
    expect(j.alternative.flops.naive).toBeGreaterThan(j.flops.naive);
    expect(j.kvBytesPerToken.absorbed).toBe(61 * 576 * 2);
  });

  it('a bad config is one clear error naming each bad field', async () => {
    const cfg = join(dir, 'bad.json');
    await writeFile(cfg, JSON.stringify({ ...tinyTrain('out', 2), optimizer: { name: 'sgd', lr: -1 }, steps: 'ten' }));
    const r = await karakoram(['train', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('optimizer.name');
    expect(r.stderr).toContain('"adamw", "muon", "muonclip"');
    expect(r.stderr).toContain('optimizer.lr');
    expect(r.stderr).toContain('steps: expected number, got string');
    expect(r.stderr).toContain(cfg);
    noStack(r.stderr);
  });

  it('invalid JSON in a config names the file', async () => {
    const cfg = join(dir, 'broken.json');
    await writeFile(cfg, '{ "steps": 3,');
    const r = await karakoram(['train', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.json.*not valid JSON/);
    noStack(r.stderr);
  });

  describe('with a trained checkpoint', () => {
    let run1: string;
    beforeAll(async () => {
      await writeFile(join(dir, 'corpus.txt'), 'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse. '.repeat(20));
      await writeFile(join(dir, 'train.json'), JSON.stringify(tinyTrain('run1', 4, { sample: { prompt: 'Call me', maxNewTokens: 8 } })));
      const r = await karakoram(['train', '--config', join(dir, 'train.json')]);
      expect(r.stderr + r.stdout).not.toContain('error');
      expect(r.code).toBe(0);
      run1 = join(dir, 'run1');
    }, 120_000);

    it('train writes metrics, an HF checkpoint and curves', async () => {
      const metrics = (await readFile(join(run1, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4]);
      for (const m of metrics) {
        expect(Number.isFinite(m.loss)).toBe(true);
        expect(Array.isArray(m.layers)).toBe(true);
      }
      const config = JSON.parse(await readFile(join(run1, 'model', 'config.json'), 'utf8'));
      expect(config.vocab_size).toBe(261);
      expect((await readFile(join(run1, 'curves.svg'), 'utf8')).startsWith('<svg')).toBe(true);
    });

    it('train on webgpu (MuonClip, so an awaited max-logit read) gives the cpu losses within 1e-3', async () => {
      await writeFile(join(dir, 'gpu.json'), JSON.stringify(tinyTrain('gpu', 2, { backend: 'webgpu' })));
      await writeFile(join(dir, 'cpu2.json'), JSON.stringify(tinyTrain('cpu2', 2)));
      const gpu = await karakoram(['train', '--config', join(dir, 'gpu.json')]);
      if (gpu.code !== 0 && /adapter/i.test(gpu.stderr) && !process.env.CI) {
        console.warn(`!! SKIPPING the webgpu train run: no WebGPU adapter here (${gpu.stderr.trim()})`);
        return;
      }
      expect(gpu.stderr).not.toContain('error');
      expect(gpu.code).toBe(0);
      expect((await karakoram(['train', '--config', join(dir, 'cpu2.json')])).code).toBe(0);
      const losses = async (run: string): Promise<number[]> =>
        (await readFile(join(dir, run, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).loss as number);
      const [g, c] = [await losses('gpu'), await losses('cpu2')];
      expect(g).toHaveLength(2);
      g.forEach((v, i) => expect(Math.abs(v - c[i]!) / Math.abs(c[i]!)).toBeLessThan(1e-3));
    }, 300_000);

    it('logits: full and absorbed MLA paths agree', async () => {
      await writeFile(join(dir, 'tokens.json'), JSON.stringify([[67, 97, 108, 108, 32, 109], [101, 32, 73, 115, 104, 109]]));
      const a = await karakoram(['logits', '--model', join(run1, 'model'), '--tokens', join(dir, 'tokens.json'), '--out', join(dir, 'full.json')]);
      const b = await karakoram(['logits', '--model', join(run1, 'model'), '--tokens', join(dir, 'tokens.json'), '--out', join(dir, 'abs.json'), '--mla', 'absorbed']);
      expect(a.code).toBe(0);
      expect(b.code).toBe(0);
      const full = JSON.parse(await readFile(join(dir, 'full.json'), 'utf8')).logits as number[][][];
      const abs = JSON.parse(await readFile(join(dir, 'abs.json'), 'utf8')).logits as number[][][];
      expect([full.length, full[0]!.length, full[0]![0]!.length]).toEqual([2, 6, 261]);
      let maxDiff = 0;
      full.forEach((r, i) => r.forEach((p, j) => p.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - abs[i]![j]![k]!))))));
      expect(maxDiff).toBeLessThan(1e-4);
    });

    it('generate: greedy output is reproducible', async () => {
      const args = ['generate', '--model', join(run1, 'model'), '--prompt', 'Call me', '--max-new-tokens', '12'];
      const a = await karakoram(args);
      const b = await karakoram(args);
      expect(a.code).toBe(0);
      expect(a.stdout.startsWith('Call me')).toBe(true);
      expect(a.stdout).toBe(b.stdout);
    });

    it('a resumed run continues bit-exactly', async () => {
      // 2 steps, then the same config with 4 steps resumes from the step-2 checkpoint;
      // its weights must equal the uninterrupted 4-step run's, bit for bit.
      await writeFile(join(dir, 'r2.json'), JSON.stringify(tinyTrain('resumed', 2)));
      await writeFile(join(dir, 'r4.json'), JSON.stringify(tinyTrain('resumed', 4)));
      expect((await karakoram(['train', '--config', join(dir, 'r2.json')])).code).toBe(0);
      const r = await karakoram(['train', '--config', join(dir, 'r4.json')]);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('resumed from');
      const a = await readFile(join(dir, 'resumed', 'model', 'model.safetensors'));
      const b = await readFile(join(run1, 'model', 'model.safetensors'));
      expect(Buffer.compare(a, b)).toBe(0);
    }, 120_000);

    it('a truncated safetensors file is refused with the file named', async () => {
      const bad = join(dir, 'truncated');
      await mkdir(bad, { recursive: true });
      await writeFile(join(bad, 'config.json'), await readFile(join(run1, 'model', 'config.json')));
      const full = await readFile(join(run1, 'model', 'model.safetensors'));
      await writeFile(join(bad, 'model.safetensors'), full.subarray(0, full.length - 100));
      const r = await karakoram(['generate', '--model', bad, '--prompt', 'x']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('model.safetensors');
      expect(r.stderr.toLowerCase()).toMatch(/truncated|beyond|out of range|past the end/);
      noStack(r.stderr);
    });

    it('a checkpoint that does not match its config lists every mismatch', async () => {
      const bad = join(dir, 'mismatch');
      await mkdir(bad, { recursive: true });
      const config = JSON.parse(await readFile(join(run1, 'model', 'config.json'), 'utf8'));
      await writeFile(join(bad, 'config.json'), JSON.stringify({ ...config, hidden_size: config.hidden_size * 2 }));
      await writeFile(join(bad, 'model.safetensors'), await readFile(join(run1, 'model', 'model.safetensors')));
      const r = await karakoram(['generate', '--model', bad, '--prompt', 'x']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('model.embed_tokens.weight');
      expect(r.stderr).toMatch(/wrong shape|shape/);
      expect(r.stderr.split('\n').length).toBeGreaterThan(3);
      noStack(r.stderr);
    });
  });
});
