import { readFile } from 'node:fs/promises';
import { KarakoramError, ops, tidy } from '@karakoram/core';
import { writeFileAtomic } from '@karakoram/core/node';
import { loadModel, runtimeFor } from './model-io.js';

/**
 * Logits for every position of equal-length token sequences, through the training path (full
 * MLA) or the absorbed latent-cache path. Output: {"logits": [batch][position][vocab]}.
 */
export async function logitsCommand(opts: { model: string; tokens: string; out: string; backend?: string; mla?: string }, log: (s: string) => void): Promise<void> {
  const mla = opts.mla ?? 'full';
  if (mla !== 'full' && mla !== 'absorbed') throw new KarakoramError('args', `--mla must be "absorbed" or "full", got "${mla}"`, 'logits');
  const raw = JSON.parse(await readFile(opts.tokens, 'utf8')) as unknown;
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every((r) => Array.isArray(r))) throw new KarakoramError('args', 'expected a non-empty JSON array of token-id arrays', opts.tokens);
  const rows = raw as unknown[][];
  const T = rows[0]!.length;
  rows.forEach((r, i) => {
    if (r.length !== T) throw new KarakoramError('args', `sequence ${i} has ${r.length} tokens, sequence 0 has ${T}: all must have the same length`, opts.tokens);
    if (T === 0) throw new KarakoramError('args', 'sequences are empty', opts.tokens);
  });
  const rt = await runtimeFor(opts.backend);
  log(`backend: ${rt.backend.describe()}`);
  const model = await loadModel(opts.model);
  const V = model.config.vocab_size;
  const flat = new Int32Array(rows.length * T);
  rows.forEach((r, i) =>
    r.forEach((t, j) => {
      if (!Number.isInteger(t) || (t as number) < 0 || (t as number) >= V) throw new KarakoramError('args', `sequence ${i}, position ${j}: ${JSON.stringify(t)} is not a token id in [0, ${V})`, opts.tokens);
      flat[i * T + j] = t as number;
    }),
  );
  const logits = tidy(() => {
    const ids = ops.tensor(flat, [rows.length, T], 'i32');
    if (mla === 'full') return model.forward(ids);
    const cache = model.createCache();
    try {
      return model.prefill(ids, cache);
    } finally {
      cache.dispose();
    }
  });
  const data = await logits.data();
  logits.dispose();
  model.dispose();
  const out: number[][][] = [];
  for (let b = 0; b < rows.length; b++) {
    const pos: number[][] = [];
    for (let t = 0; t < T; t++) pos.push(Array.from(data.subarray((b * T + t) * V, (b * T + t + 1) * V)));
    out.push(pos);
  }
  await writeFileAtomic(opts.out, JSON.stringify({ logits: out }));
  log(`wrote logits [${rows.length}][${T}][${V}] (${mla} MLA) to ${opts.out}`);
}
