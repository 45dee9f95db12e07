import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { KarakoramError } from '@karakoram/core';
import { drawRewardCurves, parseRlConfig, runRL } from '@karakoram/rl';

/** `karakoram rl --config FILE`: RL with colocated engines; paths in the file are relative to it. */
export async function rlCommand(opts: { config: string }, out: (s: string) => void): Promise<void> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(opts.config, 'utf8'));
  } catch (e) {
    if (e instanceof SyntaxError) throw new KarakoramError('config', `not valid JSON: ${e.message}`, opts.config);
    throw e;
  }
  const cfg = parseRlConfig(raw, opts.config);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(resolve(opts.config)), p));
  cfg.out = abs(cfg.out);
  if ('checkpoint' in cfg.model) cfg.model.checkpoint = abs(cfg.model.checkpoint);
  if (cfg.ptx) cfg.ptx.text = abs(cfg.ptx.text);
  const r = await runRL(cfg, { log: out });
  const pics = await drawRewardCurves([r.run], join(cfg.out, 'reward'));
  out(pics.table);
  out(`held-out reward ${r.heldOutBefore.toFixed(3)} → ${r.heldOutAfter.toFixed(3)}; metrics: ${r.metrics}  curves: ${pics.svg}${pics.png ? `, ${pics.png}` : ''}`);
}
