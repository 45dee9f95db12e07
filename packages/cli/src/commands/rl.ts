import { join } from 'node:path';
import { readConfigFile } from './config-file.js';
import { drawRewardCurves, parseRlConfig, runRL } from '@karakoram/rl';

/** `karakoram rl --config FILE`: RL with colocated engines; paths in the file are relative to it. */
export async function rlCommand(opts: { config: string }, out: (s: string) => void): Promise<void> {
  const { raw, abs } = await readConfigFile(opts.config);
  const cfg = parseRlConfig(raw, opts.config);
  cfg.out = abs(cfg.out);
  if ('checkpoint' in cfg.model) cfg.model.checkpoint = abs(cfg.model.checkpoint);
  if (cfg.ptx) cfg.ptx.text = abs(cfg.ptx.text);
  const r = await runRL(cfg, { log: out });
  const pics = await drawRewardCurves([r.run], join(cfg.out, 'reward'));
  out(pics.table);
  out(`held-out reward ${r.heldOutBefore.toFixed(3)} → ${r.heldOutAfter.toFixed(3)}; metrics: ${r.metrics}  curves: ${pics.svg}${pics.png ? `, ${pics.png}` : ''}`);
}
