/** @karakoram/plot: an SVG line chart with a reference line, and a text table. */
import { chartsSvg, table } from '@karakoram/plot';

const loss = Array.from({ length: 50 }, (_, i) => [i + 1, 5.5 * Math.exp(-i / 15) + 1.2] as const);
const maxLogit = Array.from({ length: 50 }, (_, i) => [i + 1, Math.min(30, 4 + i)] as const);
const svg = chartsSvg([
  { title: 'loss', xLabel: 'step', series: [{ name: 'train', points: loss }] },
  { title: 'max logit', xLabel: 'step', series: [{ name: 'MuonClip', points: maxLogit }], hlines: [{ y: 30, label: 'tau = 30' }] },
]);
console.log(`SVG: ${svg.length} characters, starts ${JSON.stringify(svg.slice(0, 40))}`);
console.log(table(['step', 'loss', 'max logit'], [1, 25, 50].map((s) => [s, loss[s - 1]![1].toFixed(3), maxLogit[s - 1]![1]])));
if (!svg.startsWith('<svg')) throw new Error('not an SVG');
