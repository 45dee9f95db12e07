import { chartsSvg, table, writeSvgAndPng, type Series } from '@karakoram/plot';

/** One run's per-step loss and max-logit curve, as drawCurves plots it. */
export interface RunHistory {
  name: string;
  /** Per step: loss and the largest max logit over layers and heads (NaN when not recorded). */
  steps: { step: number; loss: number; maxLogit: number }[];
}

/**
 * Draws loss and max-logit curves of one or more runs into one picture (SVG and PNG), with
 * the QK-Clip threshold as a dashed line, and returns a compact text table of the same data.
 */
export async function drawCurves(runs: readonly RunHistory[], outBase: string, tau?: number): Promise<{ svg: string; png?: string; table: string }> {
  const loss: Series[] = runs.map((r) => ({ name: r.name, points: r.steps.map((s) => [s.step, s.loss] as const) }));
  const logits: Series[] = runs.map((r) => ({ name: r.name, points: r.steps.filter((s) => Number.isFinite(s.maxLogit)).map((s) => [s.step, s.maxLogit] as const) }));
  const svg = chartsSvg([
    { title: 'training loss', xLabel: 'step', yLabel: 'cross-entropy', series: loss },
    { title: 'max attention logit (all layers, heads)', xLabel: 'step', yLabel: 'S_max', series: logits, hlines: tau ? [{ y: tau, label: `tau = ${tau}`, color: '#d62728' }] : [] },
  ]);
  const { png } = await writeSvgAndPng(svg, outBase);
  const every = Math.max(1, Math.ceil(Math.max(...runs.map((r) => r.steps.length)) / 10));
  const rows: (string | number)[][] = [];
  const maxLen = Math.max(...runs.map((r) => r.steps.length));
  for (let i = 0; i < maxLen; i += every) {
    const idx = Math.min(i, maxLen - 1);
    rows.push([runs[0]!.steps[idx]?.step ?? idx + 1, ...runs.flatMap((r) => [r.steps[idx]?.loss ?? NaN, r.steps[idx]?.maxLogit ?? NaN])]);
  }
  const last = maxLen - 1;
  if (rows.length && rows[rows.length - 1]![0] !== runs[0]!.steps[last]?.step) {
    rows.push([runs[0]!.steps[last]?.step ?? last + 1, ...runs.flatMap((r) => [r.steps[last]?.loss ?? NaN, r.steps[last]?.maxLogit ?? NaN])]);
  }
  const t = table(['step', ...runs.flatMap((r) => [`${r.name} loss`, `${r.name} max logit`])], rows.map((r) => r.map((v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(3)) : v))));
  return { svg: `${outBase}.svg`, png, table: t };
}
