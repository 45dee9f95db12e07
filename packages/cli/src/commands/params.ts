import { countParameters, preset } from '@karakoram/model';

export function paramsCommand(opts: { preset: string; json?: boolean }, out: (s: string) => void): void {
  const cfg = preset(opts.preset);
  const c = countParameters(cfg);
  if (opts.json) {
    out(JSON.stringify({ preset: opts.preset, total: c.total, activated: c.activated, breakdown: c.breakdown }, null, 2));
    return;
  }
  const fmt = (n: number): string => n.toLocaleString('en-US');
  const human = (n: number): string => (n >= 1e12 ? `${(n / 1e12).toFixed(3)}T` : n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : `${(n / 1e6).toFixed(2)}M`);
  out(`${opts.preset}`);
  out(`  total:     ${fmt(c.total)} (${human(c.total)})`);
  out(`  activated: ${fmt(c.activated)} (${human(c.activated)})`);
  for (const [k, v] of Object.entries(c.breakdown)) if (v) out(`    ${k.padEnd(14)} ${fmt(v)}`);
}
