/** @karakoram/lab: the smoke design sweep (sparsity and head count) on the built-in corpus, and its report. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { SMOKE_LAB, parseLabConfig, runLab, writeLabReport } from '@karakoram/lab';

registerCpu();
const out = await mkdtemp(join(tmpdir(), 'karakoram-example-lab-'));
try {
  const result = await runLab(parseLabConfig({ ...SMOKE_LAB, seeds: [0], out }), { log: () => {} });
  for (const p of result.points) console.log(`${p.key}: sparsity ${p.sparsity}, heads x${p.headsFactor}, ${p.params.activated.toLocaleString()} activated parameters, held-out loss ${p.loss.mean.toFixed(3)}`);
  const { md } = await writeLabReport(result, out);
  console.log((await readFile(md, 'utf8')).split('\n').slice(0, 8).join('\n'));
} finally {
  await rm(out, { recursive: true, force: true });
}
