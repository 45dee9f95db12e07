/**
 * The design lab: K2's sparsity and attention-head experiments, reproduced at small scale on
 * the cpu backend. The default sweep (6 shapes x 2 seeds) takes about 15-25 minutes on two
 * cores; --smoke runs the test-sized one.
 *
 *   node dist/main.js [--config FILE] [--out DIR] [--smoke]
 */
import { parseArgs } from 'node:util';
import { KarakoramError } from '@karakoram/core';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { SMOKE_LAB, parseLabConfig, readLabConfigFile, runLab, writeLabReport, type LabReport } from '@karakoram/lab';

export interface DesignLabOptions {
  /** Output directory; with a config file, default: the file's `out`. */
  out?: string;
  /** A lab config file (its relative paths are relative to it); default: the built-in default sweep. */
  config?: string;
  smoke?: boolean;
  log?: (s: string) => void;
  progress?: boolean;
}

export async function designLab(o: DesignLabOptions): Promise<LabReport> {
  const log = o.log ?? ((s: string) => process.stdout.write(`${s}\n`));
  registerCpu();
  const cfg = o.config ? await readLabConfigFile(o.config, o) : parseLabConfig({ ...(o.smoke ? SMOKE_LAB : {}), out: o.out ?? 'runs/design-lab' }, 'design-lab');
  const result = await runLab(cfg, { log, progress: o.progress });
  const report = await writeLabReport(result, cfg.out);
  log(`\n${report.markdown}`);
  log(`results: ${report.md}\npicture: ${report.svg}${report.png ? `, ${report.png}` : ''}`);
  return report;
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop()!);
if (isMain) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, config: { type: 'string' }, smoke: { type: 'boolean', default: false } } });
  designLab({ out: values.out, config: values.config, smoke: values.smoke, progress: true }).catch((e: unknown) => {
    process.stderr.write(e instanceof KarakoramError ? `design-lab: error: ${e.message}\n` : `design-lab: ${(e as Error).stack}\n`);
    process.exit(1);
  });
}
