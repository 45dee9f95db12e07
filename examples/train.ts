/** @karakoram/train: runTraining on a tiny config (MuonClip, byte tokens), checkpoint in HF layout. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { parseTrainConfig, runTraining } from '@karakoram/train';

registerCpu();
const dir = await mkdtemp(join(tmpdir(), 'karakoram-example-train-'));
try {
  await writeFile(join(dir, 'corpus.txt'), 'Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little. '.repeat(20));
  const cfg = parseTrainConfig({
    backend: 'cpu',
    seed: 7,
    model: { preset: 'tiny', overrides: { vocab_size: 261, num_hidden_layers: 2 } },
    data: { text: join(dir, 'corpus.txt'), tokenizer: 'byte' },
    optimizer: { name: 'muonclip', lr: 0.02, tau: 10 },
    steps: 6,
    batchSize: 2,
    seqLen: 32,
    out: join(dir, 'run'),
    sample: { prompt: 'Call me ', maxNewTokens: 12, temperature: 0 },
  });
  const r = await runTraining(cfg, { label: 'example', progress: false, log: () => {} });
  console.log(`6 steps: final loss ${r.finalLoss.toFixed(3)}, peak max logit ${r.peakMaxLogit.toFixed(2)}, sample ${JSON.stringify(r.sample)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
