/**
 * The playground: a tiny K2-style model (MLA + MoE, byte tokens) trained in the page with Muon or
 * MuonClip on WebGPU (navigator.gpu), or on the cpu backend (single-threaded wasm) when there is
 * no adapter. The loop is core's valueAndGrads + MuonClip.stepAsync + the model: no Node-only
 * module (packages/train) is imported. Checkpoints are HF safetensors, built and read as bytes.
 */
import { blobSource, createRuntime, ops, tidy, valueAndGrads, writeSafetensors, type Backend, type Tensor } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { register as registerWebGpu } from '@karakoram/backend-webgpu';
import {
  ByteTokenizer, DeepseekV3ForCausalLM, SINGLE_FILE, configForSave, generateAsync, loadCheckpoint, preset, type CheckpointSource,
} from '@karakoram/model';
import { MuonClip } from '@karakoram/optim-muonclip';
import { chartsSvg, type ChartSpec } from '@karakoram/plot';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
};
const num = (id: string): number => Number($<HTMLInputElement>(id).value);
const status = (s: string): void => {
  $('status').textContent = s;
};

const tokenizer = new ByteTokenizer();
let backend: Backend;
let model: DeepseekV3ForCausalLM | undefined;
let optimizer: MuonClip | undefined;
let running = false;
let step = 0;
let history: { step: number; loss: number; maxLogit: number }[] = [];

/** One GPU user at a time: training steps, generation and checkpoint I/O are queued. */
let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const p = queue.then(fn);
  queue = p.catch(() => undefined);
  return p;
}

/** The tiny preset with the page's overrides; the vocabulary fits the byte tokenizer. */
function configFromPage() {
  const experts = num('experts');
  return preset('tiny', {
    vocab_size: tokenizer.vocabSize,
    num_hidden_layers: num('layers'),
    hidden_size: num('hidden'),
    num_attention_heads: num('heads'),
    n_routed_experts: experts,
    n_group: Math.min(4, experts),
    topk_group: Math.min(2, experts),
  });
}

function newModel(): DeepseekV3ForCausalLM {
  model?.dispose();
  optimizer = undefined;
  history = [];
  step = 0;
  return (model = new DeepseekV3ForCausalLM(configFromPage(), { seed: 7 }));
}

function makeOptimizer(m: DeepseekV3ForCausalLM): MuonClip {
  return new MuonClip(m, { lr: num('lr'), weightDecay: 0.1, tau: num('tau'), clip: $<HTMLSelectElement>('optimizer').value === 'muonclip' });
}

/** Deterministic random windows of the corpus (a small LCG, so runs repeat). */
let rng = 12345;
function batch(ids: readonly number[], B: number, T: number): { inputs: Tensor; targets: Tensor } {
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    rng = (rng * 1103515245 + 12345) >>> 0;
    const start = rng % Math.max(1, ids.length - T - 1);
    for (let t = 0; t < T; t++) {
      x[b * T + t] = ids[start + t] ?? tokenizer.padId;
      y[b * T + t] = ids[start + t + 1] ?? tokenizer.padId;
    }
  }
  return { inputs: ops.tensor(x, [B, T], 'i32'), targets: ops.tensor(y, [B, T], 'i32') };
}

function draw(): void {
  const tau = num('tau');
  const clip = $<HTMLSelectElement>('optimizer').value === 'muonclip';
  const specs: ChartSpec[] = [
    { title: 'training loss', xLabel: 'step', yLabel: 'cross-entropy', series: [{ name: 'loss', points: history.map((h) => [h.step, h.loss]) }], width: 520, height: 300 },
    {
      title: 'attention max logit',
      xLabel: 'step',
      yLabel: 'max QK logit',
      series: [{ name: clip ? 'MuonClip' : 'Muon', points: history.filter((h) => Number.isFinite(h.maxLogit)).map((h) => [h.step, h.maxLogit]), color: '#d62728' }],
      hlines: [{ y: tau, label: `tau = ${tau}`, color: '#555' }],
      width: 520,
      height: 300,
    },
  ];
  $('charts').innerHTML = chartsSvg(specs, 2);
}

async function trainStep(ids: readonly number[]): Promise<void> {
  const m = model!;
  const opt = optimizer!;
  const params = m.namedParameters().filter((p) => p.trainable).map((p) => p.tensor);
  const r = tidy(() => {
    const { inputs, targets } = batch(ids, num('batch'), num('seqlen'));
    const out = valueAndGrads(() => m.loss(inputs, targets, undefined, { recordMaxLogits: true }), params);
    return { loss: out.value, grads: out.grads };
  });
  try {
    const loss = (await r.loss.data())[0] ?? NaN;
    const log = await opt.stepAsync(r.grads, num('lr'));
    step++;
    history.push({ step, loss, maxLogit: log.maxLogit ?? NaN });
    $('step').textContent = String(step);
    $('loss').textContent = loss.toFixed(4);
    $('maxlogit').textContent = log.maxLogit === undefined ? '–' : `${log.maxLogit.toFixed(2)}${log.clippedHeads ? ` (${log.clippedHeads} heads clipped)` : ''}`;
    draw();
  } finally {
    r.loss.dispose();
    r.grads.forEach((g) => g.dispose());
  }
}

async function train(): Promise<void> {
  const ids = tokenizer.encode($<HTMLTextAreaElement>('corpus').value);
  if (ids.length < num('seqlen') + 2) {
    status(`the corpus has ${ids.length} bytes; it needs more than seq len + 1`);
    return;
  }
  if (!model) newModel();
  optimizer ??= makeOptimizer(model!);
  running = true;
  $<HTMLButtonElement>('start').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  status('training…');
  const t0 = performance.now();
  const first = step;
  try {
    while (running && step < num('steps')) {
      await exclusive(() => trainStep(ids));
      // Yield to the page between steps so clicks and repaints get through.
      await new Promise((r) => setTimeout(r, 0));
    }
    status(`stopped after ${step} steps (${((step - first) / ((performance.now() - t0) / 1000)).toFixed(2)} steps/s)`);
  } catch (e) {
    status(`error: ${(e as Error).message}`);
    console.error(e);
  } finally {
    running = false;
    $<HTMLButtonElement>('start').disabled = false;
    $<HTMLButtonElement>('stop').disabled = true;
  }
}

async function generate(): Promise<void> {
  if (!model) newModel();
  const m = model!;
  const prompt = $<HTMLInputElement>('prompt').value;
  const out = await exclusive(() =>
    generateAsync(m, [[tokenizer.bosId, ...tokenizer.encode(prompt)]], {
      maxNewTokens: num('gen-tokens'),
      temperature: num('temperature'),
      seed: Date.now() % 1_000_000,
      stopTokens: [tokenizer.eosId],
    }),
  );
  $('sample').textContent = prompt + tokenizer.decode(out.tokens[0] ?? []);
}

/** HF layout: config.json + model.safetensors (F32), offered as downloads. */
async function save(): Promise<void> {
  if (!model) newModel();
  const m = model!;
  const bytes = await exclusive(() => writeSafetensors(m.stateDict(), { dtype: 'F32', metadata: { format: 'pt' }, file: SINGLE_FILE }));
  const config = JSON.stringify(configForSave(m.config, 'F32'), null, 2) + '\n';
  const link = (id: string, blob: Blob, name: string): void => {
    const a = $<HTMLAnchorElement>(id);
    if (a.href) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.hidden = false;
  };
  link('download-config', new Blob([config], { type: 'application/json' }), 'config.json');
  link('download-weights', new Blob([bytes as BlobPart], { type: 'application/octet-stream' }), SINGLE_FILE);
  status(`checkpoint ready: ${(bytes.byteLength / 1024).toFixed(0)} KiB of weights at step ${step}`);
}

/** Reads config.json + a .safetensors file picked in the page into a new model. */
async function load(files: FileList): Promise<void> {
  const byName = new Map<string, File>();
  for (const f of Array.from(files)) byName.set(f.name.endsWith('.safetensors') ? SINGLE_FILE : f.name.endsWith('.json') ? 'config.json' : f.name, f);
  if (!byName.has('config.json') || !byName.has(SINGLE_FILE)) {
    status('pick both config.json and model.safetensors');
    return;
  }
  const source: CheckpointSource = {
    name: 'upload',
    has: async (f) => byName.has(f),
    readText: async (f) => byName.get(f)!.text(),
    open: async (f) => blobSource(byName.get(f)!),
  };
  await exclusive(async () => {
    const { config, tensors } = await loadCheckpoint(source, backend);
    try {
      const m = new DeepseekV3ForCausalLM(config, { seed: 0 });
      m.loadStateDict(tensors, 'upload');
      running = false;
      model?.dispose();
      model = m;
      optimizer = undefined;
      history = [];
      step = 0;
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  });
  const c = model!.config;
  $<HTMLInputElement>('layers').value = String(c.num_hidden_layers);
  $<HTMLInputElement>('hidden').value = String(c.hidden_size);
  $<HTMLInputElement>('heads').value = String(c.num_attention_heads);
  $('step').textContent = '0';
  draw();
  status(`loaded a checkpoint: ${c.num_hidden_layers} layers, hidden ${c.hidden_size}, ${c.n_routed_experts} experts`);
}

async function main(): Promise<void> {
  registerCpu();
  registerWebGpu();
  const forced = new URLSearchParams(location.search).get('backend');
  const rt = await createRuntime({ backend: forced ? forced : { name: 'webgpu', options: {}, fallback: ['cpu'] } });
  backend = rt.backend;
  $('backend').textContent = backend.name;
  $('backend').dataset.ready = 'true';
  if (rt.fellBackFrom.length) $('backend-note').textContent = `(${rt.fellBackFrom.map((f) => `${f.name} unavailable: ${f.reason.slice(0, 120)}`).join('; ')})`;
  draw();
  $('start').addEventListener('click', () => void train());
  $('stop').addEventListener('click', () => {
    running = false;
  });
  $('generate').addEventListener('click', () => void generate().catch((e) => status(`error: ${(e as Error).message}`)));
  $('save').addEventListener('click', () => void save().catch((e) => status(`error: ${(e as Error).message}`)));
  $<HTMLInputElement>('load').addEventListener('change', (ev) => {
    const files = (ev.target as HTMLInputElement).files;
    if (files?.length) void load(files).catch((e) => status(`error: ${(e as Error).message}`));
  });
  // Changing the model shape starts over with a fresh model.
  for (const id of ['layers', 'hidden', 'heads', 'experts']) $(id).addEventListener('change', () => {
    if (!running) {
      newModel();
      draw();
      $('step').textContent = '0';
    }
  });
  for (const id of ['optimizer', 'tau', 'lr']) $(id).addEventListener('change', () => {
    if (!running && model) optimizer = undefined;
    draw();
  });
}

main().catch((e) => {
  $('backend').textContent = 'failed';
  status(`error: ${(e as Error).message}`);
  console.error(e);
});
