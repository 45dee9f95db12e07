import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KarakoramError, createRuntime, ops, tidy, type Runtime, type Tensor } from '@karakoram/core';
import { ByteTokenizer, DeepseekV3ForCausalLM, parseModelConfig, preset, type ModelConfig, type Tokenizer } from '@karakoram/model';
import { loadModelDir, loadTokenizerDir, saveCheckpoint } from '@karakoram/model/node';
import { MuonClip } from '@karakoram/optim-muonclip';
import { latestCheckpoint, loadRunCheckpoint, saveRunCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { TokenBatcher, splitTokens } from './data.js';
import { Trainer, type StepResult } from './trainer.js';
import type { RunHistory } from './curves.js';

/** What runTraining returns: where it wrote, the loss/max-logit history and final metrics, and the runtime used. */
export interface TrainRunResult {
  outDir: string;
  config: ModelConfig;
  history: RunHistory;
  finalLoss: number;
  validationLoss: number | undefined;
  peakMaxLogit: number;
  tokensPerSecond: number;
  sample?: string;
  resumedFrom?: string;
  runtime: Runtime;
}

async function buildModel(cfg: TrainConfig): Promise<{ model: DeepseekV3ForCausalLM; config: ModelConfig }> {
  if ('preset' in cfg.model) {
    const config = preset(cfg.model.preset, cfg.model.overrides as never);
    return { model: new DeepseekV3ForCausalLM(config, { seed: cfg.seed }), config };
  }
  if ('config' in cfg.model) {
    const config = parseModelConfig(cfg.model.config, 'train config: model.config');
    return { model: new DeepseekV3ForCausalLM(config, { seed: cfg.seed }), config };
  }
  const model = await loadModelDir(cfg.model.checkpoint, { seed: cfg.seed });
  return { model, config: model.config };
}

/** Reads the configured corpus into one token stream, checking every id against the vocabulary. */
export async function loadTokens(cfg: TrainConfig, vocab: number): Promise<{ tokens: Int32Array; tokenizer: Tokenizer }> {
  if ('text' in cfg.data) {
    const tokenizer = cfg.data.tokenizer === 'byte' ? new ByteTokenizer() : await loadTokenizerDir(cfg.data.tokenizer);
    if (tokenizer.vocabSize > vocab) throw new KarakoramError('data', `the tokenizer has ${tokenizer.vocabSize} ids but the model's vocab_size is ${vocab}`, 'train config: data.tokenizer');
    const files = Array.isArray(cfg.data.text) ? cfg.data.text : [cfg.data.text];
    const ids: number[] = [];
    for (const f of files) {
      for (const id of tokenizer.encode(await readFile(f, 'utf8'))) ids.push(id);
      if (tokenizer.eosId !== undefined) ids.push(tokenizer.eosId);
    }
    return { tokens: Int32Array.from(ids), tokenizer };
  }
  const path = cfg.data.tokens;
  const raw = JSON.parse(await readFile(path, 'utf8')) as unknown;
  if (!Array.isArray(raw) || !raw.every((s) => Array.isArray(s))) throw new KarakoramError('data', 'expected a JSON array of token-id arrays', path);
  const flat: number[] = [];
  raw.forEach((seq: unknown[], i) =>
    seq.forEach((t, j) => {
      if (!Number.isInteger(t) || (t as number) < 0 || (t as number) >= vocab) throw new KarakoramError('data', `sequence ${i}, position ${j}: ${JSON.stringify(t)} is not a token id in [0, ${vocab})`, path);
      flat.push(t as number);
    }),
  );
  return { tokens: Int32Array.from(flat), tokenizer: new ByteTokenizer() };
}

function buildOptimizer(cfg: TrainConfig, model: DeepseekV3ForCausalLM): MuonClip {
  const o = cfg.optimizer;
  const common = {
    lr: o.lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay, nsDtype: o.nsDtype,
    adamBetas: o.adamBetas, adamEps: o.adamEps, muon: o.muon, adamw: o.adamw,
  };
  // Every choice goes through MuonClip so max logits are logged the same way; 'muon' and
  // 'adamw' only log (clip: false), and 'adamw' routes every trained parameter to AdamW.
  if (o.name === 'adamw') {
    const params = model.namedParameters().filter((p) => p.trainable);
    return new MuonClip(params, { ...common, muon: [], adamw: ['/.*/'], tau: o.tau, clip: false, targets: model.qkClipTargets() });
  }
  return new MuonClip(model, { ...common, tau: o.tau, clip: o.name === 'muonclip' });
}

/** Mean cross-entropy over (up to `maxBatches`) held-out windows. */
export async function validationLoss(model: DeepseekV3ForCausalLM, tokens: Int32Array, seqLen: number, batchSize: number, maxBatches = 8): Promise<number | undefined> {
  const windows = Math.floor((tokens.length - 1) / seqLen);
  if (windows < 1) return undefined;
  let sum = 0;
  let n = 0;
  for (let w = 0; w < windows && n < maxBatches * batchSize; w += batchSize) {
    const b = Math.min(batchSize, windows - w);
    const inp = new Int32Array(b * seqLen);
    const tgt = new Int32Array(b * seqLen);
    for (let i = 0; i < b; i++) {
      inp.set(tokens.subarray((w + i) * seqLen, (w + i + 1) * seqLen), i * seqLen);
      tgt.set(tokens.subarray((w + i) * seqLen + 1, (w + i + 1) * seqLen + 1), i * seqLen);
    }
    const loss = tidy(() => model.loss(ops.tensor(inp, [b, seqLen], 'i32'), ops.tensor(tgt, [b, seqLen], 'i32'), undefined, { auxLoss: false }));
    sum += (await loss.data())[0]! * b;
    loss.dispose();
    n += b;
  }
  return sum / n;
}

/**
 * Runs a training config end to end: runtime, model, data, optimizer, resume, the loop with
 * checkpoints and metrics, validation, the final HF checkpoint in out/model, and a sample.
 */
export async function runTraining(cfg: TrainConfig, opts: { label?: string; log?: (s: string) => void; progress?: boolean } = {}): Promise<TrainRunResult> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const runtime = await createRuntime({ backend: cfg.backend, seed: cfg.seed });
  for (const f of runtime.fellBackFrom) log(`backend ${f.name} unavailable (${f.reason}); fell back`);
  log(`backend: ${runtime.backend.describe()}`);
  await mkdir(cfg.out, { recursive: true });
  await writeFile(join(cfg.out, 'train-config.json'), JSON.stringify(cfg, null, 2));

  const { model, config } = await buildModel(cfg);
  const { tokens, tokenizer } = await loadTokens(cfg, config.vocab_size);
  const { train, heldOut } = splitTokens(tokens, cfg.heldOut, cfg.seqLen);
  const data = new TokenBatcher(train, cfg.seqLen, cfg.batchSize, cfg.seed);
  const optimizer = buildOptimizer(cfg, model);
  const moe = model.moeLayers();
  const history: RunHistory = { name: opts.label ?? cfg.optimizer.name, steps: [] };

  const trainer = new Trainer({
    model, optimizer, data,
    schedule: { ...cfg.schedule, lr: cfg.optimizer.lr, totalSteps: cfg.steps } as never,
    steps: cfg.steps, gradAccum: cfg.gradAccum, clipNorm: cfg.clipNorm, onNonFinite: cfg.onNonFinite,
    metricsPath: join(cfg.out, 'metrics.jsonl'), recordMaxLogits: true, label: opts.label ?? 'train', progress: opts.progress,
    hooks: {
      beforeStep: () => moe.forEach((m) => m.resetLoad()),
      afterUpdate: () => {
        if (cfg.routerBiasRate > 0) moe.forEach((m) => m.updateBias(cfg.routerBiasRate));
      },
    },
  });

  let resumedFrom: string | undefined;
  const latest = cfg.resume ? await latestCheckpoint(cfg.out) : undefined;
  if (latest) {
    const ck = await loadRunCheckpoint(latest);
    try {
      model.loadStateDict(ck.model, `${latest}/model`);
      await optimizer.loadStateDict(ck.optimizer);
    } finally {
      for (const t of [...ck.model.values(), ...ck.optimizer.values()]) t.dispose();
    }
    trainer.step = ck.state.step;
    data.restore(ck.state.data);
    const prev = ck.state.history as RunHistory['steps'] | undefined;
    if (prev) history.steps = [...prev];
    resumedFrom = latest;
    log(`resumed from ${latest} at step ${ck.state.step}`);
  }

  let tokensSeen = 0;
  let seconds = 0;
  await trainer.run(async (r: StepResult) => {
    const maxLogit = typeof r.extra.maxLogit === 'number' ? r.extra.maxLogit : NaN;
    history.steps.push({ step: r.step, loss: r.loss, maxLogit });
    tokensSeen += r.tokens;
    seconds += r.seconds;
    if (cfg.checkpointEvery > 0 && r.step % cfg.checkpointEvery === 0 && r.step < cfg.steps) {
      await saveRunCheckpoint(cfg.out, config, model.stateDict(), optimizer.stateDict(), { step: r.step, data: data.state(), history: history.steps });
    }
  });

  const validation = await validationLoss(model, heldOut, cfg.seqLen, cfg.batchSize);
  await saveRunCheckpoint(cfg.out, config, model.stateDict(), optimizer.stateDict(), { step: trainer.step, data: data.state(), history: history.steps });
  await saveCheckpoint(join(cfg.out, 'model'), config, model.stateDict(), { dtype: 'F32' });
  await writeTokenizerNote(cfg, join(cfg.out, 'model'));

  let sample: string | undefined;
  if (cfg.sample) {
    const prompt = tokenizer.encode(cfg.sample.prompt);
    const g = model.generate([prompt], { maxNewTokens: cfg.sample.maxNewTokens, temperature: cfg.sample.temperature, seed: cfg.seed, stopTokens: tokenizer.eosId !== undefined ? [tokenizer.eosId] : [] });
    sample = cfg.sample.prompt + tokenizer.decode(g.tokens[0]!);
  }
  const last = history.steps[history.steps.length - 1];
  const result: TrainRunResult = {
    outDir: cfg.out, config, history,
    finalLoss: last?.loss ?? NaN,
    validationLoss: validation,
    peakMaxLogit: Math.max(...history.steps.map((s) => s.maxLogit).filter(Number.isFinite), -Infinity),
    tokensPerSecond: seconds > 0 ? tokensSeen / seconds : NaN,
    sample, resumedFrom, runtime,
  };
  await writeFile(join(cfg.out, 'summary.json'), JSON.stringify({ ...result, runtime: runtime.backend.describe(), history: undefined, config: undefined }, null, 2));
  model.dispose();
  optimizer.dispose();
  return result;
}

/** Records which tokenizer the data used, so `karakoram generate` can pick the same one. */
async function writeTokenizerNote(cfg: TrainConfig, modelDir: string): Promise<void> {
  const tok = 'text' in cfg.data ? cfg.data.tokenizer : 'byte';
  await writeFile(join(modelDir, 'karakoram_tokenizer.json'), JSON.stringify({ tokenizer: tok }, null, 2));
}

export type { Tensor };
