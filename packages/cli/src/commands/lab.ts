import { readLabConfigFile, runLab, writeLabReport } from '@karakoram/lab';

/** `karakoram lab --config FILE`: the K2 design lab's sweeps; paths in the file are relative to the file. */
export async function labCommand(opts: { config: string; out?: string; smoke?: boolean }, out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const cfg = await readLabConfigFile(opts.config, opts);
  const r = await writeLabReport(await runLab(cfg, { log: err, progress: true }), cfg.out);
  out(r.markdown);
  out(`results: ${r.md}\npicture: ${r.svg}${r.png ? `, ${r.png}` : ''}`);
}
