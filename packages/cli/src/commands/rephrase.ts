import { loadRephraseConfig, runRephrase, runRephraseQueue, startRephraseWorkers, type RephraseSummary } from '@karakoram/data-rephrase';
import { runtimeFor } from './model-io.js';
import { runWorkersUntilSignal } from './workers.js';

/** `karakoram rephrase --config FILE [--queue redis://…] [--workers N] [--worker-only]`. */
export async function rephraseCommand(
  opts: { config: string; queue?: string; workers: number; workerOnly?: boolean },
  out: (s: string) => void,
  log: (s: string) => void,
): Promise<void> {
  const cfg = await loadRephraseConfig(opts.config);
  if (cfg.provider.kind === 'local' || cfg.judge?.kind === 'local') await runtimeFor(cfg.provider.kind === 'local' ? cfg.provider.backend : cfg.judge?.kind === 'local' ? cfg.judge.backend : undefined);
  if (opts.workerOnly) {
    if (!opts.queue) throw new Error('--worker-only needs --queue');
    const w = await startRephraseWorkers(cfg, { redis: opts.queue, workers: Math.max(1, opts.workers), log });
    await runWorkersUntilSignal(w, cfg.queue.name, opts.queue, log);
    return;
  }
  const s: RephraseSummary = opts.queue ? await runRephraseQueue(cfg, { redis: opts.queue, workers: opts.workers, log }) : await runRephrase(cfg, { log });
  out(
    `rephrased ${s.docs} document(s): ${s.written} written, ${s.dropped} dropped, ${s.skipped} already done, ${s.malformed} malformed line(s); ` +
      `${s.promptTokens} prompt + ${s.completionTokens} completion tokens in ${s.seconds.toFixed(1)} s → ${s.output} (rejects: ${s.rejects})`,
  );
}
