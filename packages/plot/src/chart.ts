/** A line chart drawn straight to SVG: no DOM, no dependencies, so it runs in Node and browsers. */
export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  color?: string;
  dashed?: boolean;
}

/** One chart: a title, axis labels, line series, optional horizontal reference lines and log scale. */
export interface ChartSpec {
  title: string;
  xLabel?: string;
  yLabel?: string;
  series: readonly Series[];
  /** Horizontal reference lines, e.g. the QK-Clip threshold tau. */
  hlines?: readonly { y: number; label: string; color?: string }[];
  logY?: boolean;
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v: number): string => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4))));

/** Returns the chart as an SVG element (a <g> translated by x, y), for composing panels. */
export function chartGroup(spec: ChartSpec, x = 0, y = 0): string {
  const W = spec.width ?? 640;
  const H = spec.height ?? 360;
  const m = { l: 64, r: 16, t: 36, b: 48 };
  const tf = (v: number): number => (spec.logY ? Math.log10(Math.max(v, 1e-30)) : v);
  const pts = spec.series.flatMap((s) => s.points).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  const ys = [...pts.map(([, b]) => tf(b)), ...(spec.hlines ?? []).map((h) => tf(h.y))];
  const xs = pts.map(([a]) => a);
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (v: number): number => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (v: number): number => H - m.b - ((tf(v) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`);
  for (const t of niceTicks(x0, x1)) {
    parts.push(`<line x1="${sx(t)}" y1="${m.t}" x2="${sx(t)}" y2="${H - m.b}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(t)}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    const yy = H - m.b - ((t - y0) / (y1 - y0)) * (H - m.t - m.b);
    parts.push(`<line x1="${m.l}" y1="${yy}" x2="${W - m.r}" y2="${yy}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 6}" y="${yy + 4}" text-anchor="end" font-size="11">${fmt(spec.logY ? 10 ** t : t)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`);
  if (spec.xLabel) parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${esc(spec.xLabel)}</text>`);
  if (spec.yLabel) parts.push(`<text x="14" y="${(m.t + H - m.b) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})">${esc(spec.yLabel)}</text>`);
  for (const h of spec.hlines ?? []) {
    const yy = sy(h.y);
    const c = h.color ?? '#555';
    parts.push(`<line x1="${m.l}" y1="${yy}" x2="${W - m.r}" y2="${yy}" stroke="${c}" stroke-dasharray="6 4" stroke-width="1.5"/>`);
    parts.push(`<text x="${W - m.r - 4}" y="${yy - 4}" text-anchor="end" font-size="11" fill="${c}">${esc(h.label)}</text>`);
  }
  spec.series.forEach((s, i) => {
    const c = s.color ?? PALETTE[i % PALETTE.length];
    const d = s.points
      .filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b))
      .map(([a, b], j) => `${j ? 'L' : 'M'}${sx(a).toFixed(1)},${sy(b).toFixed(1)}`)
      .join('');
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    parts.push(`<rect x="${m.l + 10}" y="${m.t + 8 + i * 16}" width="12" height="3" fill="${c}"/>`);
    parts.push(`<text x="${m.l + 28}" y="${m.t + 13 + i * 16}" font-size="11">${esc(s.name)}</text>`);
  });
  return `<g transform="translate(${x},${y})" font-family="DejaVu Sans, Arial, sans-serif">${parts.join('')}</g>`;
}

/** One SVG document with the charts laid out in a grid of `cols` columns. */
export function chartsSvg(specs: readonly ChartSpec[], cols = specs.length): string {
  const W = specs[0]?.width ?? 640;
  const H = specs[0]?.height ?? 360;
  const rows = Math.ceil(specs.length / cols);
  const body = specs.map((s, i) => chartGroup(s, (i % cols) * W, Math.floor(i / cols) * H)).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * W}" height="${rows * H}" viewBox="0 0 ${cols * W} ${rows * H}">${body}</svg>`;
}

/** A compact text table of the same data, for terminals and notes. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const w = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: readonly string[]): string => `| ${r.map((c, i) => String(c).padEnd(w[i]!)).join(' | ')} |`;
  return [line(headers), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...cells.map((r) => line(r.map(String)))].join('\n');
}
