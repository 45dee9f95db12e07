import { readConfigFile } from './config-file.js';
import { drawCurves, parseTrainConfig, runTraining } from '@karakoram/train';

/** `karakoram train --config FILE`: paths in the file are relative to the file. */
export async function trainCommand(opts: { config: string }, out: (s: string) => void): Promise<void> {
  const { raw, abs } = await readConfigFile(opts.config);
  const cfg = parseTrainConfig(raw, opts.config);
  cfg.out = abs(cfg.out);
  if ('text' in cfg.data) {
    cfg.data.text = Array.isArray(cfg.data.text) ? (cfg.data.text.map(abs) as [string, ...string[]]) : abs(cfg.data.text);
    if (cfg.data.tokenizer !== 'byte') cfg.data.tokenizer = abs(cfg.data.tokenizer);
  } else cfg.data.tokens = abs(cfg.data.tokens);
  if ('checkpoint' in cfg.model) cfg.model.checkpoint = abs(cfg.model.checkpoint);
  const r = await runTraining(cfg);
  const pics = await drawCurves([r.history], `${cfg.out}/curves`, cfg.optimizer.name === 'muonclip' ? cfg.optimizer.tau : undefined);
  out(pics.table);
  out(`final loss ${r.finalLoss.toFixed(4)}${r.validationLoss !== undefined ? `, validation ${r.validationLoss.toFixed(4)}` : ''}, peak max logit ${r.peakMaxLogit.toFixed(2)}, ${r.tokensPerSecond.toFixed(0)} tokens/s`);
  out(`model: ${cfg.out}/model  metrics: ${cfg.out}/metrics.jsonl  curves: ${pics.svg}${pics.png ? `, ${pics.png}` : ''}`);
  if (r.sample !== undefined) out(`sample: ${r.sample}`);
}
