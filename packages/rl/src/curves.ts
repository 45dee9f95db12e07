/** Reward curves: one picture (SVG + PNG) and a compact table. */
import { chartsSvg, table, writeSvgAndPng, type Series } from '@karakoram/plot';

/** One run's reward history, for {@link drawRewardCurves}. */
export interface RewardRun {
  name: string;
  /** Mean training reward per iteration (sampled, at that iteration's temperature). */
  train: { iteration: number; reward: number }[];
  /** Held-out reward (greedy) at some iterations (0 = before RL). */
  heldOut: { iteration: number; reward: number }[];
}

/** Draws the training and held-out reward curves of `runs` to OUTBASE.svg (and .png when possible) and returns the paths and a text table. */
export async function drawRewardCurves(runs: readonly RewardRun[], outBase: string): Promise<{ svg: string; png?: string; table: string }> {
  const train: Series[] = runs.map((r) => ({ name: r.name, points: r.train.map((p) => [p.iteration, p.reward] as const) }));
  const held: Series[] = runs.map((r) => ({ name: r.name, points: r.heldOut.map((p) => [p.iteration, p.reward] as const) }));
  const svg = chartsSvg([
    { title: 'training reward (sampled)', xLabel: 'iteration', yLabel: 'mean reward', series: train },
    { title: 'held-out reward (greedy)', xLabel: 'iteration', yLabel: 'mean reward', series: held },
  ]);
  const { png } = await writeSvgAndPng(svg, outBase);
  const n = Math.max(...runs.map((r) => r.train.length));
  const every = Math.max(1, Math.ceil(n / 12));
  const rows: (string | number)[][] = [];
  for (let i = 0; i < n; i += every) rows.push(row(runs, i));
  if (n > 0 && (n - 1) % every !== 0) rows.push(row(runs, n - 1));
  return { svg: `${outBase}.svg`, png, table: table(['iteration', ...runs.map((r) => `${r.name} reward`)], rows) };
}

function row(runs: readonly RewardRun[], i: number): (string | number)[] {
  return [runs[0]!.train[i]?.iteration ?? i, ...runs.map((r) => (r.train[i] ? Number(r.train[i]!.reward.toFixed(3)) : '-'))];
}
