/**
 * The main job: a small K2-style model (MLA + sparse MoE) trained on Moby-Dick on the cpu
 * backend twice, with the same data and seed: vanilla Muon at a learning rate high enough to
 * push attention max logits up, then MuonClip with tau set below the Muon run's peak. Both
 * runs' loss and max-logit curves go into one picture (SVG + PNG); the MuonClip model writes a
 * sample.
 *
 *   node dist/main.js [--out DIR] [--steps N] [--quick]
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KarakoramError } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { drawCurves, parseTrainConfig, runTraining, type TrainConfigInput } from '@karakoram/train';
import { mobyDick } from './corpus.js';

export interface TinyOptions {
  out: string;
  steps: number;
  quick: boolean;
  log?: (s: string) => void;
}

export async function trainTiny(o: TinyOptions): Promise<{ muonPeak: number; tau: number; clipPeak: number; table: string; png?: string; svg: string; sample?: string }> {
  const log = o.log ?? ((s: string) => process.stdout.write(`${s}\n`));
  registerCpu();
  await mkdir(o.out, { recursive: true });
  const corpusPath = join(o.out, 'corpus.txt');
  const text = await mobyDick(o.quick ? 2 : 40);
  await writeFile(corpusPath, text);
  log(`corpus: ${text.length.toLocaleString()} characters of Moby-Dick (${o.quick ? 2 : 40} chapters), byte-level tokens`);

  // A small K2-shaped model: MLA with a q low-rank path, first layer dense, then 8 routed
  // experts (top-2, sigmoid router, one shared expert). Sized so both runs take a few minutes.
  const shape = o.quick
    ? { vocab_size: 261, num_hidden_layers: 2, hidden_size: 64, intermediate_size: 128, moe_intermediate_size: 32, n_routed_experts: 4, num_experts_per_tok: 2, q_lora_rank: 32, kv_lora_rank: 16, qk_nope_head_dim: 8, qk_rope_head_dim: 8, v_head_dim: 8 }
    : { vocab_size: 261, num_hidden_layers: 2, hidden_size: 128, intermediate_size: 384, moe_intermediate_size: 64, n_routed_experts: 8, q_lora_rank: 64, kv_lora_rank: 32 };
  const base = (name: 'muon' | 'muonclip', lr: number, tau: number): TrainConfigInput => ({
    backend: 'cpu',
    seed: 7,
    model: { preset: 'small', overrides: shape },
    data: { text: corpusPath, tokenizer: 'byte' },
    optimizer: { name, lr, weightDecay: 0.1, tau },
    schedule: { kind: 'constant', warmupSteps: Math.min(10, Math.floor(o.steps / 10)) },
    steps: o.steps,
    batchSize: o.quick ? 2 : 8,
    seqLen: o.quick ? 32 : 64,
    clipNorm: 1,
    out: join(o.out, name),
    resume: false,
    sample: { prompt: 'Call me Ishmael. ', maxNewTokens: o.quick ? 16 : 120, temperature: 0 },
  });

  // High enough that vanilla Muon drives attention max logits up within the run.
  const lr = 0.05;
  log(`\n[1/2] Muon without clipping, lr ${lr}`);
  const muon = await runTraining(parseTrainConfig(base('muon', lr, 100)), { label: 'muon' });
  const tau = Math.max(1, Math.round(muon.peakMaxLogit * 0.6));
  log(`Muon: final loss ${muon.finalLoss.toFixed(3)}, validation ${muon.validationLoss?.toFixed(3)}, peak max logit ${muon.peakMaxLogit.toFixed(1)}, ${muon.tokensPerSecond.toFixed(0)} tokens/s`);

  log(`\n[2/2] MuonClip, same lr, tau = ${tau} (60% of the Muon peak)`);
  const clip = await runTraining(parseTrainConfig(base('muonclip', lr, tau)), { label: 'muonclip' });
  log(`MuonClip: final loss ${clip.finalLoss.toFixed(3)}, validation ${clip.validationLoss?.toFixed(3)}, peak max logit ${clip.peakMaxLogit.toFixed(1)}, ${clip.tokensPerSecond.toFixed(0)} tokens/s`);

  const capped = clip.history.steps.filter((s) => s.step > (clip.history.steps.find((x) => x.maxLogit >= tau)?.step ?? Infinity));
  if (capped.length) {
    const mean = capped.reduce((a, s) => a + s.maxLogit, 0) / capped.length;
    log(`MuonClip after first reaching tau: mean max logit ${mean.toFixed(1)}, highest ${Math.max(...capped.map((s) => s.maxLogit)).toFixed(1)} (the forward pass's S_max, measured before that step's clip)`);
  }
  const pics = await drawCurves([muon.history, clip.history], join(o.out, 'curves'), tau);
  log(`\n${pics.table}`);
  log(`\ncurves: ${pics.svg}${pics.png ? ` and ${pics.png}` : ''}`);
  log(`checkpoints (HF layout): ${join(o.out, 'muon', 'model')}, ${join(o.out, 'muonclip', 'model')}`);
  if (clip.sample) log(`\nsample (MuonClip model, greedy):\n${clip.sample}`);
  return { muonPeak: muon.peakMaxLogit, tau, clipPeak: clip.peakMaxLogit, table: pics.table, png: pics.png, svg: pics.svg, sample: clip.sample };
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop()!);
if (isMain) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'runs/train-tiny' }, steps: { type: 'string', default: '150' }, quick: { type: 'boolean', default: false } } });
  trainTiny({ out: values.out!, steps: Number(values.steps), quick: values.quick! }).catch((e: unknown) => {
    process.stderr.write(e instanceof KarakoramError ? `train-tiny: error: ${e.message}\n` : `train-tiny: ${(e as Error).stack}\n`);
    process.exit(1);
  });
}
