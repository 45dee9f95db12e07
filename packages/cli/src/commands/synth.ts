import { loadSynthConfig, runSynth, runSynthQueue, startSynthWorkers, STAGES, type StageName, type SynthSummary } from '@karakoram/agentic';
import { runtimeFor } from './model-io.js';
import { runWorkersUntilSignal } from './workers.js';

/** `karakoram synth --config FILE [--stage NAME]… [--queue redis://…] [--workers N] [--worker-only]`. */
export async function synthCommand(
  opts: { config: string; stage?: string[]; queue?: string; workers: number; workerOnly?: boolean },
  out: (s: string) => void,
  log: (s: string) => void,
): Promise<void> {
  let cfg = await loadSynthConfig(opts.config);
  if (opts.stage?.length) {
    const bad = opts.stage.filter((s) => !(STAGES as readonly string[]).includes(s));
    if (bad.length) throw new Error(`--stage: unknown stage(s) ${bad.join(', ')} (expected ${STAGES.join(', ')})`);
    cfg = { ...cfg, stages: STAGES.filter((s) => opts.stage!.includes(s)) as [StageName, ...StageName[]] };
  }
  const local = Object.values(cfg.providers).find((p) => p?.kind === 'local');
  if (local?.kind === 'local') await runtimeFor(local.backend);
  if (opts.workerOnly) {
    if (!opts.queue) throw new Error('--worker-only needs --queue');
    const w = await startSynthWorkers(cfg, { redis: opts.queue, workers: Math.max(1, opts.workers), log });
    await runWorkersUntilSignal(w, cfg.queue.name, opts.queue, log);
    return;
  }
  const s: SynthSummary = opts.queue ? await runSynthQueue(cfg, { redis: opts.queue, workers: opts.workers, log }) : await runSynth(cfg, { log });
  const st = s.stats;
  out(
    `synth: ${Object.entries(s.stages).map(([k, v]) => `${k} ${v.written} new/${v.total}${v.failed ? ` (${v.failed} failed)` : ''}`).join(', ')}` +
      (st ? `; ${st.exported} exported, pass rate ${(st.passRate * 100).toFixed(0)}% of ${st.judged} judged` : '') +
      ` in ${s.seconds.toFixed(1)} s → ${s.out}`,
  );
}
