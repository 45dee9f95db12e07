import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inferenceCost, preset } from '@karakoram/model';
import { chartsSvg, svgToPng, type ChartSpec } from '@karakoram/plot';
import { reachAt, withinNoise } from './stats.js';
import type { LabResult, PointResult } from './sweep.js';

/** The K2 report's figures the lab is read against (K2 tech report, sections 2.3 and 2.4). */
export const K2_REPORT = {
  sparsityFlopsRatio: { 8: 1.69, 16: 1.39, 32: 1.15 } as Record<number, number>,
  headsLossGainPct: [0.5, 1.2] as const,
  headsInferenceFlopsPct: 83,
};

const e = (x: number): string => x.toExponential(2);
const f = (x: number, d = 4): string => x.toFixed(d);
const pct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(2)}%`;
const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const head = (cells: string[]): string => `${row(cells)}\n|${cells.map(() => '---').join('|')}|`;
const lossCell = (p: PointResult): string => `${f(p.loss.mean)} ± ${f(p.loss.std)}`;
const range = (p: PointResult): string => `${f(p.loss.min)}–${f(p.loss.max)}`;
const noise = (a: PointResult, b: PointResult): string =>
  a === b ? 'reference' : Math.min(a.loss.n, b.loss.n) < 2 ? 'n/a (1 seed)' : withinNoise(a.loss, b.loss) ? 'within noise' : 'beyond noise';

/** What writeLabReport wrote (paths of results.md, the SVG chart, the PNG when it could be drawn, the JSON result), the markdown text and the FLOPs ratios. */
export interface LabReport {
  markdown: string;
  md: string;
  svg: string;
  png?: string;
  json: string;
  /** Sparsity multiple -> training FLOPs to reach the common target loss, relative to the sparsest point. */
  flopsRatio: Map<number, number | undefined>;
}

function sparsitySection(r: LabResult, pts: PointResult[]): { text: string; ratio: Map<number, number | undefined>; target: number } {
  const ref = pts.find((p) => p.sparsity === 1) ?? pts[0]!;
  const sparsest = pts[pts.length - 1]!;
  // The loss every point reaches: the worst final mean. FLOPs to reach it compare like K2's "fewer FLOPs for the same loss".
  const target = Math.max(...pts.map((p) => p.loss.mean));
  const reach = new Map(pts.map((p) => [p.sparsity, reachAt(p.curve, target)]));
  const at = reach.get(sparsest.sparsity);
  const ratio = new Map(pts.map((p) => [p.sparsity, reach.get(p.sparsity) !== undefined && at ? reach.get(p.sparsity)! / at : undefined]));
  const a = r.config.sparsity?.active ?? 0;
  const lines = [
    `## Sparsity: ${a} active routed experts + 1 shared, total routed = multiple x ${a}`,
    '',
    head(['sparsity', 'routed experts (total / active)', 'params total', 'activated', 'training FLOPs', 'held-out loss (mean ± std)', 'min–max', 'Δ vs dense', 'vs dense', `FLOPs to reach ${f(target, 3)} vs sparsity ${sparsest.sparsity}`, `inference FLOPs/token @${r.config.context} (absorbed)`, 'KV bytes/token (absorbed)']),
    ...pts.map((p) => row([
      p.sparsity, `${p.config.n_routed_experts} / ${p.config.num_experts_per_tok}`, p.params.total, p.params.activated, e(p.trainFlops.total),
      lossCell(p), range(p), `${p.loss.mean - ref.loss.mean >= 0 ? '+' : ''}${f(p.loss.mean - ref.loss.mean)}`, noise(p, ref),
      ratio.get(p.sparsity) !== undefined ? `${f(ratio.get(p.sparsity)!, 2)}x` : 'not reached', e(p.inference.flops.absorbed), p.inference.kvBytesPerToken.absorbed,
    ])),
    '',
    `K2 report (sparsity = total / active experts, 8 active): sparsity 48 needed ${Object.entries(K2_REPORT.sparsityFlopsRatio).map(([, x]) => `${x}x`).join(', ')} fewer FLOPs than sparsity ${Object.keys(K2_REPORT.sparsityFlopsRatio).join(', ')} for the same validation loss.`,
    `Here the FLOPs column is the training FLOPs at which each point's mean held-out curve (${r.config.train.evals} evaluation(s) per run, interpolated in log FLOPs) reaches ${f(target, 3)}, the worst final mean loss, divided by the same for sparsity ${sparsest.sparsity}. "Not reached" means the curve was already below it at its first evaluation.`,
  ];
  return { text: lines.join('\n'), ratio, target };
}

function headsSection(r: LabResult, pts: PointResult[]): string {
  const base = pts.find((p) => p.headsFactor === 1) ?? pts[0]!;
  const L = base.config.num_hidden_layers;
  const k2a = inferenceCost(preset('kimi-k2'), r.config.context);
  const k2b = inferenceCost(preset('kimi-k2', { num_attention_heads: 128 }), r.config.context);
  const ch = (a: number, b: number): string => pct(((a - b) / b) * 100);
  return [
    `## Attention heads (layers = ${L}, sparsity ${base.sparsity}): heads = factor x layers, head dims fixed`,
    '',
    head(['heads', 'params total', 'attention params', 'held-out loss (mean ± std)', 'min–max', 'Δ loss', 'vs heads = layers', `inference FLOPs/token @${r.config.context} absorbed (Δ)`, 'naive (Δ)', 'KV bytes/token full (absorbed)']),
    ...pts.map((p) => row([
      p.config.num_attention_heads, p.params.total, p.params.attention, lossCell(p), range(p), ch(p.loss.mean, base.loss.mean), noise(p, base),
      `${e(p.inference.flops.absorbed)} (${ch(p.inference.flops.absorbed, base.inference.flops.absorbed)})`,
      `${e(p.inference.flops.naive)} (${ch(p.inference.flops.naive, base.inference.flops.naive)})`,
      `${p.inference.kvBytesPerToken.full} (${p.inference.kvBytesPerToken.absorbed})`,
    ])),
    '',
    `K2 report: doubling heads (64 -> 128, 61 layers) improved validation loss by only ${K2_REPORT.headsLossGainPct.join('-')}% while raising inference FLOPs at 128k context by ${K2_REPORT.headsInferenceFlopsPct}%.`,
    `This project's cost model on K2's own config at ${r.config.context}: 64 -> 128 heads is ${ch(k2b.flops.absorbed, k2a.flops.absorbed)} FLOPs/token with the absorbed MLA path, ${ch(k2b.flops.naive, k2a.flops.naive)} with the naive one.`,
    'Decision: as K2 did, heads are doubled at fixed per-head dims (qk_nope, qk_rope, v), so the attention weights grow (q_b_proj, kv_b_proj, o_proj) and everything else (width, layers, experts, latent ranks) stays fixed; the table gives both models\' parameter counts.',
  ].join('\n');
}

function charts(r: LabResult, sp: PointResult[], hp: PointResult[]): ChartSpec[] {
  const specs: ChartSpec[] = [];
  if (sp.length) {
    specs.push({
      title: 'Held-out loss vs sparsity', xLabel: `sparsity (total / ${r.config.sparsity?.active} active routed experts)`, yLabel: 'held-out loss (nats/byte)',
      series: [
        { name: `mean of ${r.config.seeds.length} seeds`, points: sp.map((p) => [p.sparsity, p.loss.mean] as const) },
        { name: 'min', points: sp.map((p) => [p.sparsity, p.loss.min] as const), dashed: true, color: '#999' },
        { name: 'max', points: sp.map((p) => [p.sparsity, p.loss.max] as const), dashed: true, color: '#bbb' },
      ],
    });
    specs.push({
      title: 'Held-out loss vs training FLOPs', xLabel: 'training FLOPs', yLabel: 'held-out loss (mean over seeds)',
      series: sp.map((p) => ({ name: `sparsity ${p.sparsity}`, points: p.curve })),
    });
  }
  if (hp.length > 1) {
    const base = hp.find((p) => p.headsFactor === 1) ?? hp[0]!;
    const d = (a: number, b: number): number => ((a - b) / b) * 100;
    const k = K2_REPORT;
    specs.push({
      title: 'More heads: loss change vs inference-FLOP change', xLabel: `inference FLOPs/token change at ${r.config.context} context (%)`, yLabel: 'held-out loss change (%)',
      series: [
        { name: 'this lab, absorbed MLA', points: hp.map((p) => [d(p.inference.flops.absorbed, base.inference.flops.absorbed), d(p.loss.mean, base.loss.mean)] as const) },
        { name: 'this lab, naive MLA', points: hp.map((p) => [d(p.inference.flops.naive, base.inference.flops.naive), d(p.loss.mean, base.loss.mean)] as const), dashed: true },
        { name: `K2 report, -${k.headsLossGainPct[0]}%`, points: [[0, 0], [k.headsInferenceFlopsPct, -k.headsLossGainPct[0]]], dashed: true, color: '#999' },
        { name: `K2 report, -${k.headsLossGainPct[1]}%`, points: [[0, 0], [k.headsInferenceFlopsPct, -k.headsLossGainPct[1]]], dashed: true, color: '#555' },
      ],
      hlines: [{ y: 0, label: 'no change', color: '#aaa' }],
    });
  }
  return specs;
}

/** Writes results.md, design-lab.svg/.png and lab-result.json into outDir (each via a temporary name). */
export async function writeLabReport(r: LabResult, outDir: string): Promise<LabReport> {
  await mkdir(outDir, { recursive: true });
  const atomic = async (path: string, data: string | Uint8Array): Promise<string> => {
    await writeFile(`${path}.tmp`, data);
    await rename(`${path}.tmp`, path);
    return path;
  };
  const sp = r.points.filter((p) => p.studies.includes('sparsity')).sort((a, b) => a.sparsity - b.sparsity);
  const hp = r.points.filter((p) => p.studies.includes('heads')).sort((a, b) => a.headsFactor - b.headsFactor);
  const t = r.config.train;
  const s = sp.length ? sparsitySection(r, sp) : undefined;
  const perSeed = [
    '## Every run',
    '',
    head(['point', 'seed', 'held-out loss', 'final train loss', 'peak max logit', 'seconds']),
    ...r.points.flatMap((p) => p.runs.map((x) => row([p.key, x.seed, f(x.validationLoss), f(x.finalTrainLoss), f(x.peakMaxLogit, 2), f(x.seconds, 0)]))),
  ].join('\n');
  const markdown = [
    '# K2 design lab: sparsity and attention heads at small scale',
    '',
    `- Corpus: ${r.source}; byte-level tokens. ${r.trainTokens} training tokens (${r.check.trainWindows} distinct training windows of ${t.seqLen + 1} tokens).`,
    `- Held out: ${r.check.heldOutTokens} tokens (${r.check.heldOutWindows} windows), sha256 \`${r.check.heldOutSha256}\`, the same for every point; every training and held-out window was hashed and ${r.check.overlap} hashes are shared.`,
    `- Training: MuonClip (lr ${t.lr}, tau ${t.tau}, weight decay ${t.weightDecay}), constant lr after ${t.warmupSteps} warm-up steps, ${t.steps} steps x ${t.batchSize} x ${t.seqLen} = ${r.tokensPerRun} tokens per run; seed = init and batch order, so all points of a seed see the same batches. Seeds: ${r.config.seeds.join(', ')}.`,
    '- Training FLOPs: 6 x activated non-embedding parameters (lm_head, router and shared expert included; the input embedding is a gather) x tokens, plus 3 x the forward attention score and value FLOPs over the full seqLen x seqLen matrix. Inference FLOPs and KV bytes per token come from `inferenceCost` (2 FLOPs per multiply-add, bf16 cache).',
    `- Noise: a difference is "within noise" when |Δmean| < std(a) + std(b) over seeds (${r.config.seeds.length} seeds: a rough screen, not a test).`,
    `- Backend: ${r.backend}; wall time ${(r.seconds / 60).toFixed(1)} min.`,
    '',
    s?.text ?? '',
    '',
    hp.length > 1 ? headsSection(r, hp) : '',
    '',
    perSeed,
    '',
    '![charts](design-lab.png)',
    '',
  ].join('\n');
  const svgText = chartsSvg(charts(r, sp, hp), 3);
  const md = await atomic(join(outDir, 'results.md'), markdown);
  const svg = await atomic(join(outDir, 'design-lab.svg'), svgText);
  const json = await atomic(join(outDir, 'lab-result.json'), JSON.stringify(r, null, 1));
  let png: string | undefined;
  try {
    png = await atomic(join(outDir, 'design-lab.png'), await svgToPng(svgText));
  } catch {
    png = undefined; // resvg missing: the SVG is the picture
  }
  return { markdown, md, svg, png, json, flopsRatio: s?.ratio ?? new Map() };
}
