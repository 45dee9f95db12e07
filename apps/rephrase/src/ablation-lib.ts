/**
 * K2's rephrasing ablation, scaled down to a CPU: the same synthetic facts, a small model trained
 * (a) on the raw text for 10 epochs and (b) on 10 rephrasings for 1 epoch each, then scored on
 * cloze questions by comparing the log-probability of the right attribute with the other values
 * of that attribute (chance: 1/8).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ops, tidy } from '@karakoram/core';
import { ByteTokenizer, DeepseekV3ForCausalLM } from '@karakoram/model';
import { loadCheckpointDir } from '@karakoram/model/node';
import { cheapChecks } from '@karakoram/data-rephrase';
import { parseTrainConfig, runTraining } from '@karakoram/train';
import { CANDIDATES, REPHRASINGS, entities, questions, rawText, rng, type Entity, type Question } from './facts.js';

export interface AblationOptions {
  out: string;
  entities: number;
  /** Epochs over the raw text; the rephrased run sees this many rephrasings, once each. */
  epochs: number;
  batchSize: number;
  seqLen: number;
  lr: number;
  seed: number;
  /** Model size overrides on the tiny preset. */
  model: Record<string, unknown>;
  log: (s: string) => void;
}

export const DEFAULTS: Omit<AblationOptions, 'out' | 'log'> = {
  entities: 50,
  epochs: 10,
  batchSize: 8,
  seqLen: 64,
  lr: 0.02,
  seed: 1,
  model: { vocab_size: 261, hidden_size: 64, intermediate_size: 128, moe_intermediate_size: 32 },
};

export interface ArmResult {
  name: string;
  corpusTokens: number;
  steps: number;
  tokensSeen: number;
  finalLoss: number;
  rawFormAccuracy: number;
  heldOutAccuracy: number;
  seconds: number;
}

export interface AblationResult {
  raw: ArmResult;
  rephrased: ArmResult;
  /** Share of templated rephrasings whose names and attribute words pass data-rephrase's cheap checks. */
  rephrasingChecksPassed: number;
  chance: number;
  questions: number;
}

const shuffled = <T>(xs: readonly T[], r: () => number): T[] => {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
};

/** The corpora: raw (each entity's fixed text, shuffled) and rephrased (k styles per entity, shuffled). */
export function corpora(es: readonly Entity[], k: number, seed: number): { raw: string; rephrased: string; rephrasings: { source: string; text: string }[] } {
  const r = rng(seed + 100);
  const raw = shuffled(es.map(rawText), r).join('\n');
  const rephrasings = es.flatMap((e) => Array.from({ length: k }, (_, i) => ({ source: rawText(e), text: REPHRASINGS[i % REPHRASINGS.length]!(e) })));
  return { raw, rephrased: shuffled(rephrasings.map((x) => x.text), r).join('\n'), rephrasings };
}

/** Accuracy: the right value has the highest mean per-token log-probability among its attribute's values. */
export function clozeAccuracy(model: DeepseekV3ForCausalLM, qs: readonly Question[]): number {
  const tok = new ByteTokenizer();
  let right = 0;
  for (const q of qs) {
    const prompt = tok.encode(q.prompt);
    const cands = CANDIDATES[q.attribute].map((c) => tok.encode(` ${c}`));
    const T = prompt.length + Math.max(...cands.map((c) => c.length));
    const ids = new Int32Array(cands.length * T);
    cands.forEach((c, b) => ids.set([...prompt, ...c], b * T));
    const lp = tidy(() => ops.logSoftmax(model.forward(ops.tensor(ids, [cands.length, T], 'i32'))).dataSync());
    const V = model.config.vocab_size;
    const scores = cands.map((c, b) => {
      let s = 0;
      c.forEach((t, j) => (s += lp[(b * T + prompt.length - 1 + j) * V + t]!));
      return s / c.length;
    });
    const best = scores.indexOf(Math.max(...scores));
    if (CANDIDATES[q.attribute][best] === q.answer) right++;
  }
  return right / qs.length;
}

async function arm(name: string, text: string, epochs: number, es: readonly Entity[], o: AblationOptions): Promise<ArmResult> {
  const dir = join(o.out, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'corpus.txt'), text);
  const corpusTokens = new ByteTokenizer().encode(text).length + 1;
  const steps = Math.max(1, Math.round((epochs * corpusTokens) / (o.batchSize * o.seqLen)));
  o.log(`[${name}] ${corpusTokens} tokens × ${epochs} epoch(s) = ${steps} steps of ${o.batchSize}×${o.seqLen}`);
  const t0 = Date.now();
  const r = await runTraining(
    parseTrainConfig({
      backend: 'cpu', seed: o.seed,
      model: { preset: 'tiny', overrides: { ...o.model, max_position_embeddings: 256 } },
      data: { text: join(dir, 'corpus.txt'), tokenizer: 'byte' },
      optimizer: { name: 'muon', lr: o.lr, weightDecay: 0 },
      schedule: { kind: 'cosine', warmupSteps: Math.min(10, Math.floor(steps / 10)), minLr: o.lr / 10 },
      steps, batchSize: o.batchSize, seqLen: o.seqLen, heldOut: 0, out: join(dir, 'run'), resume: false,
    }),
    { label: name, log: () => undefined, progress: false },
  );
  const { config, tensors } = await loadCheckpointDir(join(dir, 'run', 'model'));
  const model = new DeepseekV3ForCausalLM(config, { seed: 0 });
  model.loadStateDict(tensors, 'ablation');
  for (const t of tensors.values()) t.dispose();
  const rawFormAccuracy = clozeAccuracy(model, questions(es, 'raw-form'));
  const heldOutAccuracy = clozeAccuracy(model, questions(es, 'held-out'));
  model.dispose();
  const res = { name, corpusTokens, steps, tokensSeen: steps * o.batchSize * o.seqLen, finalLoss: r.finalLoss, rawFormAccuracy, heldOutAccuracy, seconds: (Date.now() - t0) / 1000 };
  o.log(`[${name}] loss ${r.finalLoss.toFixed(3)}, raw-form cloze ${(100 * rawFormAccuracy).toFixed(1)}%, held-out questions ${(100 * heldOutAccuracy).toFixed(1)}% (${res.seconds.toFixed(0)} s)`);
  return res;
}

export async function runAblation(opts: Partial<AblationOptions> & { out: string }): Promise<AblationResult> {
  const o: AblationOptions = { ...DEFAULTS, log: (s) => process.stderr.write(`${s}\n`), ...opts };
  const es = entities(o.entities, o.seed);
  const c = corpora(es, o.epochs, o.seed);
  const bounds = { minNumberRecall: 1, minEntityRecall: 1, minOverlap: 0, maxOverlap: 1 };
  const passed = c.rephrasings.filter((x) => {
    const ch = cheapChecks(x.source, x.text, bounds);
    return ch.ok && ['city', 'colour', 'animal'].every((k) => x.text.toLowerCase().includes(es.find((e) => x.source.startsWith(e.name))![k as 'city'].toLowerCase()));
  }).length;
  const raw = await arm('raw-10-epochs', c.raw, o.epochs, es, o);
  const rephrased = await arm(`rephrased-${o.epochs}x-1-epoch`, c.rephrased, 1, es, o);
  const result: AblationResult = { raw, rephrased, rephrasingChecksPassed: passed / c.rephrasings.length, chance: 1 / 8, questions: es.length * 3 };
  await writeFile(join(o.out, 'ablation.json'), JSON.stringify({ options: { ...o, log: undefined }, ...result }, null, 2));
  return result;
}
