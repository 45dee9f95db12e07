import { describe, expect, it } from 'vitest';
import { chartsSvg, svgToPng, table } from '../src/index.js';

describe('plot', () => {
  it('draws series, thresholds and legends into SVG', () => {
    const svg = chartsSvg([
      { title: 'max logit', series: [{ name: 'muon', points: [[0, 10], [1, 200]] }, { name: 'muonclip', points: [[0, 10], [1, 100]] }], hlines: [{ y: 100, label: 'tau = 100' }] },
      { title: 'loss', series: [{ name: 'muon', points: [[0, 5], [1, 3]] }], logY: true },
    ]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)?.length).toBe(3);
    expect(svg).toContain('tau = 100');
    expect(svg).toContain('muonclip');
  });
  it('renders a PNG with the PNG signature', async () => {
    const png = await svgToPng(chartsSvg([{ title: 't', series: [{ name: 'a', points: [[0, 1], [2, 3]] }] }]));
    expect([...png.slice(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    expect(png.length).toBeGreaterThan(1000);
  });
  it('formats a table', () => {
    const t = table(['step', 'loss'], [[1, 2.5], [2, 2.25]]);
    expect(t.split('\n')).toHaveLength(4);
    expect(t).toContain('| 2    | 2.25 |');
  });
});
