/**
 * The release as a user gets it: every public package packed with `pnpm pack` (workspace:*
 * dependencies rewritten to versions), the tarballs of the model stack installed together with
 * npm into a fresh temporary project (so they resolve to each other's tarballs, third-party
 * dependencies from the registry), then a TypeScript program made of the README examples is
 * type-checked against the packed .d.ts files (NodeNext resolution, no "source" condition) and
 * run with plain node against the packed dist/. Needs `pnpm build` first (the test command
 * builds) and the npm registry for zod, js-tiktoken, @huggingface/tokenizers and @resvg/resvg-js.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Installed and exercised in the temporary project (tfjs-node-gpu, webgpu, bullmq stay out: native and heavy). */
const INSTALL = ['core', 'backend-cpu', 'layer-mla', 'layer-moe', 'model', 'optim-muon', 'optim-muonclip', 'plot', 'train'];

const pnpm = (args: string[], cwd: string): string => {
  const viaJs = process.env.npm_execpath && /pnpm/.test(process.env.npm_execpath);
  return viaJs
    ? execFileSync(process.execPath, [process.env.npm_execpath!, ...args], { cwd, encoding: 'utf8' })
    : execFileSync('pnpm', args, { cwd, encoding: 'utf8' });
};

let work: string | undefined;
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const CONSUMER = `
import { createRuntime, ops, valueAndGrads, readSafetensors, writeSafetensors } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { ByteTokenizer, DeepseekV3ForCausalLM, generate, preset } from '@karakoram/model';
import { loadModelDir, saveCheckpoint } from '@karakoram/model/node';
import { MuonClip } from '@karakoram/optim-muonclip';
import { chartsSvg } from '@karakoram/plot';
import { parseTrainConfig, runTraining } from '@karakoram/train';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

// README "Using the core"
registerCpu();
await createRuntime({ backend: 'cpu' });
const w = ops.randomNormal([4, 4], 42);
const { value, grads } = valueAndGrads(() => ops.sum(ops.square(ops.matmul(w, w))), [w]);
console.log('core: loss', value.dataSync()[0]!.toFixed(3), 'grad shape', grads[0]!.shape.join('x'));

// @karakoram/model README
const tok = new ByteTokenizer();
const model = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: tok.vocabSize }), { seed: 1 });
const out = generate(model, [[tok.bosId, ...tok.encode('Call me ')]], { maxNewTokens: 8, temperature: 0.8 });
console.log('model: generated', out.tokens[0]!.length, 'tokens');

// One MuonClip step, a checkpoint round trip in HF layout, safetensors bytes
const params = model.namedParameters().filter((p) => p.trainable).map((p) => p.tensor);
const ids = ops.tensor(tok.encode('the cat sat on the mat'), [1, 22], 'i32');
const step = valueAndGrads(() => model.loss(ops.slice(ids, [0, 0], [1, 21]), ops.slice(ids, [0, 1], [1, 21]), undefined, { recordMaxLogits: true }), params);
const log = new MuonClip(model, { lr: 0.02, tau: 10 }).step(step.grads);
console.log('muonclip: max logit', log.maxLogit?.toFixed(4));
const dir = process.argv[2]!;
await saveCheckpoint(join(dir, 'ckpt'), model.config, model.stateDict(), { dtype: 'F32' });
const back = await loadModelDir(join(dir, 'ckpt'));
const bytes = await writeSafetensors(back.stateDict());
console.log('checkpoint: reloaded', readSafetensors(bytes).size, 'tensors');

// @karakoram/train README (3 steps)
await writeFile(join(dir, 'corpus.txt'), 'Call me Ishmael. '.repeat(50));
const r = await runTraining(parseTrainConfig({
  backend: 'cpu',
  model: { preset: 'tiny', overrides: { vocab_size: 261, num_hidden_layers: 2 } },
  data: { text: join(dir, 'corpus.txt'), tokenizer: 'byte' },
  optimizer: { name: 'muonclip', lr: 0.02, tau: 10 },
  steps: 3, batchSize: 2, seqLen: 16,
  out: join(dir, 'run'),
}), { progress: false, log: () => {} });
console.log('train: final loss', r.finalLoss.toFixed(3));

// @karakoram/plot
const svg = chartsSvg([{ title: 'loss', series: [{ name: 'train', points: [[1, 3], [2, 2], [3, 1.5]] }] }]);
console.log('plot:', svg.startsWith('<svg') ? 'svg ok' : 'bad svg');
console.log('RELEASE-SMOKE-OK');
`;

describe('release', () => {
  it('packs every public package and runs the README examples from the installed tarballs', async () => {
    work = await mkdtemp(join(tmpdir(), 'karakoram-release-'));
    const tarballs = join(work, 'tarballs');
    const pkgs = (await readdir(join(root, 'packages'))).sort();
    const packed = new Map<string, string>();
    for (const name of pkgs) {
      const manifest = JSON.parse(await readFile(join(root, 'packages', name, 'package.json'), 'utf8')) as { private?: boolean; version: string };
      if (manifest.private) continue;
      pnpm(['pack', '--pack-destination', tarballs], join(root, 'packages', name));
      const file = join(tarballs, `karakoram-${name}-${manifest.version}.tgz`);
      packed.set(name, file);
      // Only the package's own files: dist, src, README.md, package.json; types included; workspace:* rewritten.
      const list = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n');
      const stray = list.filter((f) => !/^package\/(dist\/|src\/|README\.md$|package\.json$)/.test(f));
      expect(stray, `${name}: files outside dist/src/README`).toEqual([]);
      expect(list, `${name}: types`).toContain('package/dist/index.d.ts');
      expect(list, `${name}: README`).toContain('package/README.md');
      const pj = execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' });
      expect(pj, `${name}: workspace: protocol left in`).not.toMatch(/workspace:/);
    }
    expect(packed.size).toBeGreaterThanOrEqual(14);

    const app = join(work, 'app');
    await import('node:fs/promises').then((fs) => fs.mkdir(app, { recursive: true }));
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'karakoram-release-smoke', private: true, type: 'module' }, null, 2));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--prefer-offline', '--loglevel=error', ...INSTALL.map((n) => packed.get(n)!)], { cwd: app, encoding: 'utf8', stdio: 'pipe' });
    await writeFile(join(app, 'main.ts'), CONSUMER);
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')], outDir: 'out' },
      files: ['main.ts'],
    }));
    // Types: the packed .d.ts files resolve through each package's exports (no "source" condition).
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8', stdio: 'pipe' });
    const out = execFileSync(process.execPath, [join(app, 'out/main.js'), work], { cwd: app, encoding: 'utf8' });
    console.log(out);
    expect(out).toContain('RELEASE-SMOKE-OK');
  }, 600_000);
});
