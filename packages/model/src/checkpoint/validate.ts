/**
 * Comparing the tensors a checkpoint holds with the ones a config expects, so a load either takes
 * everything or nothing, and the refusal lists every problem at once.
 */
import { MismatchError, fmtShape } from '@karakoram/core';

/** One difference between expected and found tensors: missing, unexpected, or the wrong shape. */
export type CheckpointMismatch =
  | { kind: 'missing'; name: string; expected: readonly number[] }
  | { kind: 'unexpected'; name: string; found: readonly number[] }
  | { kind: 'shape'; name: string; expected: readonly number[]; found: readonly number[] };

/** Every difference between the expected and found name -> shape maps (expected order, then extras). */
export function validateCheckpoint(
  expected: ReadonlyMap<string, readonly number[]>,
  found: ReadonlyMap<string, readonly number[]>,
): CheckpointMismatch[] {
  const out: CheckpointMismatch[] = [];
  for (const [name, shape] of expected) {
    const f = found.get(name);
    if (!f) out.push({ kind: 'missing', name, expected: shape });
    else if (f.length !== shape.length || f.some((d, i) => d !== shape[i])) out.push({ kind: 'shape', name, expected: shape, found: f });
  }
  for (const [name, shape] of found) if (!expected.has(name)) out.push({ kind: 'unexpected', name, found: shape });
  return out;
}

/** One line of text for a mismatch, as listed in the MismatchError. */
export function describeMismatch(m: CheckpointMismatch): string {
  switch (m.kind) {
    case 'missing':
      return `missing ${m.name} ${fmtShape(m.expected)}`;
    case 'unexpected':
      return `unexpected ${m.name} ${fmtShape(m.found)}`;
    case 'shape':
      return `wrong shape for ${m.name}: ${fmtShape(m.found)}, expected ${fmtShape(m.expected)}`;
  }
}

/** Throws a MismatchError listing every mismatch (at most `limit` lines, then a count) when there is any. */
export function assertCheckpointMatches(
  expected: ReadonlyMap<string, readonly number[]>,
  found: ReadonlyMap<string, readonly number[]>,
  where: string,
  limit = 50,
): void {
  const list = validateCheckpoint(expected, found);
  if (list.length === 0) return;
  const lines = list.slice(0, limit).map(describeMismatch);
  if (list.length > limit) lines.push(`... and ${list.length - limit} more`);
  const err = new MismatchError(where, lines);
  (err as MismatchError & { mismatches: CheckpointMismatch[] }).mismatches = list;
  throw err;
}
