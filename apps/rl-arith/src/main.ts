/**
 * RL on verifiable arithmetic, end to end on the cpu backend:
 *   1. pre-train a small K2-style model (MLA + MoE) on "a+b=c\n" strings of the training split
 *      with packages/train's Trainer, stopping early so the model is only partly right;
 *   2. from that base, RL with colocated engines (K2 objective, MuonClip, shared weights) on
 *      training prompts, for several seeds;
 *   3. report the held-out reward (greedy, prompts never seen in pre-training or RL) before and
 *      after RL as mean ± std over seeds, print the reward table and draw it to SVG/PNG.
 *
 *   node dist/main.js [--out DIR] [--seeds 3] [--iterations N] [--quick]
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRuntime, hash32 } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { ByteTokenizer, DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { MuonClip } from '@karakoram/optim-muonclip';
import { arithmeticProblem, drawRewardCurves, parseRlConfig, runRL, type RlConfigInput, type RewardRun } from '@karakoram/rl';
import { TokenBatcher, Trainer } from '@karakoram/train';

export interface ArithOptions {
  out: string;
  seeds: number;
  iterations?: number;
  pretrainSteps?: number;
  quick: boolean;
  log?: (s: string) => void;
}

export interface ArithResult {
  /** Held-out reward per seed: greedy, and sampled at T=1. */
  before: number[];
  after: number[];
  sampledBefore: number[];
  sampledAfter: number[];
  table: string;
  svg: string;
  png?: string;
  seconds: { pretrain: number; rl: number };
  history: Awaited<ReturnType<typeof runRL>>['history'][];
}

/** Operands in [0, MAX_OPERAND]: 400 sums, a fifth of them held out from pre-training and RL. */
export const MAX_OPERAND = 19;

/**
 * The pre-training text: training-split sums, shuffled by the seed. A fraction `chatty` of the lines
 * carry a trailing remark after the answer ("12+7=19, easy\n"), as web text would: the base
 * model learns the sums but often adds a remark, which the exact-answer reward counts as wrong.
 * That leaves RL room to improve in minutes on held-out prompts (answer, then stop), on top of
 * sharpening the sums themselves.
 */
export function arithmeticCorpus(epochs: number, seed: number, chatty = 0.5): string {
  const remarks = [', easy', ' ok', '.', ' (sum)', '!'];
  const lines: string[] = [];
  for (let s = 0; lines.length < epochs * 2000; s++) {
    const p = arithmeticProblem(seed * 1_000_003 + s, { maxOperand: MAX_OPERAND, split: 'train' });
    const h = hash32(seed, s);
    const remark = (h % 1000) / 1000 < chatty ? remarks[(h >>> 10) % remarks.length] : '';
    lines.push(`${p.a}+${p.b}=${p.answer}${remark}\n`);
  }
  return lines.join('');
}

export const modelShape = {
  vocab_size: 261, hidden_size: 64, intermediate_size: 128, moe_intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2,
  n_routed_experts: 4, num_experts_per_tok: 2, n_group: 1, topk_group: 1, q_lora_rank: 32, kv_lora_rank: 16, qk_nope_head_dim: 16,
  qk_rope_head_dim: 8, v_head_dim: 16, max_position_embeddings: 256, rope_scaling: null,
};

async function pretrain(steps: number, log: (s: string) => void): Promise<DeepseekV3ForCausalLM> {
  const model = new DeepseekV3ForCausalLM(preset('tiny', modelShape), { seed: 1 });
  const tokens = Int32Array.from(new ByteTokenizer().encode(arithmeticCorpus(3, 1)));
  const trainer = new Trainer({
    model, optimizer: new MuonClip(model, { lr: 0.02, weightDecay: 0.01 }), data: new TokenBatcher(tokens, 32, 16, 1),
    schedule: { kind: 'constant', lr: 0.02, warmupSteps: 10 }, steps, clipNorm: 1, label: 'pre-train', recordMaxLogits: true,
  });
  const res = await trainer.run();
  log(`pre-trained ${steps} steps on ${tokens.length.toLocaleString()} tokens of sums: loss ${res[0]!.loss.toFixed(3)} → ${res[res.length - 1]!.loss.toFixed(3)}`);
  return model;
}

function clone(base: DeepseekV3ForCausalLM): DeepseekV3ForCausalLM {
  const m = new DeepseekV3ForCausalLM(base.config, { seed: 2 });
  // Shares the base's storage until the first update replaces it (updates assign new storage).
  m.loadStateDict(base.stateDict());
  return m;
}

const stats = (xs: readonly number[]): { mean: number; std: number } => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, xs.length - 1)) };
};
export const fmt = (xs: readonly number[]): string => {
  const s = stats(xs);
  return `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}`;
};

export async function rlArith(o: ArithOptions): Promise<ArithResult> {
  const log = o.log ?? ((s: string) => process.stdout.write(`${s}\n`));
  registerCpu();
  await createRuntime({ backend: 'cpu' });
  await mkdir(o.out, { recursive: true });
  let t0 = performance.now();
  const base = await pretrain(o.pretrainSteps ?? (o.quick ? 20 : 250), log);
  const pretrainSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const runs: RewardRun[] = [];
  const before: number[] = [];
  const after: number[] = [];
  const sampledBefore: number[] = [];
  const sampledAfter: number[] = [];
  const history: ArithResult['history'] = [];
  for (let seed = 1; seed <= o.seeds; seed++) {
    log(`\n[RL seed ${seed}/${o.seeds}]`);
    const cfg: RlConfigInput = {
      seed,
      model: { preset: 'tiny', overrides: modelShape },
      env: { name: 'arithmetic', options: { maxOperand: MAX_OPERAND, tokenBudget: 5 } },
      iterations: o.iterations ?? (o.quick ? 2 : 20),
      promptsPerIteration: o.quick ? 2 : 8,
      samplesPerPrompt: o.quick ? 4 : 8,
      maxTokensThisIteration: 4,
      temperature: { kind: 'exponential', start: 1.0, end: 0.7, halfLife: 10 },
      objective: { kind: 'k2', tau: 0.5 },
      optimizer: { lr: 0.004 },
      stepsPerIteration: 4,
      eval: { prompts: o.quick ? 8 : 200, every: o.quick ? 0 : 5 },
      out: join(o.out, `seed-${seed}`),
    };
    const r = await runRL(parseRlConfig(cfg), { model: clone(base), log, name: `seed ${seed}` });
    runs.push(r.run);
    before.push(r.heldOutBefore);
    after.push(r.heldOutAfter);
    sampledBefore.push(r.heldOutSampledBefore);
    sampledAfter.push(r.heldOutSampledAfter);
    history.push(r.history);
  }
  const rlSeconds = (performance.now() - t0) / 1000;
  const pics = await drawRewardCurves(runs, join(o.out, 'reward'));
  log(`\n${pics.table}`);
  log(`\nheld-out reward (exact answer, mean ± std over ${o.seeds} seeds):`);
  log(`  greedy:        pre-trained ${fmt(before)} → after RL ${fmt(after)}`);
  log(`  sampled (T=1): pre-trained ${fmt(sampledBefore)} → after RL ${fmt(sampledAfter)}`);
  log(`time: pre-training ${pretrainSeconds.toFixed(0)} s, RL ${rlSeconds.toFixed(0)} s`);
  log(`reward curves: ${pics.svg}${pics.png ? ` and ${pics.png}` : ''}; metrics: ${join(o.out, 'seed-*/metrics.jsonl')}`);
  return { before, after, sampledBefore, sampledAfter, table: pics.table, svg: pics.svg, png: pics.png, seconds: { pretrain: pretrainSeconds, rl: rlSeconds }, history };
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop()!);
if (isMain) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'rl-arith-out' }, seeds: { type: 'string', default: '3' }, iterations: { type: 'string' }, 'pretrain-steps': { type: 'string' }, quick: { type: 'boolean', default: false } } });
  await rlArith({
    out: values.out!, seeds: Number(values.seeds), quick: values.quick!,
    iterations: values.iterations ? Number(values.iterations) : undefined, pretrainSteps: values['pretrain-steps'] ? Number(values['pretrain-steps']) : undefined,
  });
}
