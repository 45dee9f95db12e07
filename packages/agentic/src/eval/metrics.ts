/**
 * Tool-use metrics.
 * - tau-bench pass^k: the chance that k trials drawn from n all succeed,
 *   pass^k = C(successes, k) / C(trials, k) per task, averaged over tasks.
 * - ACEBench end accuracy: the share of runs whose final state (and answer, when there is one) is
 *   right; process accuracy: the share of milestone calls matched, in order, by the calls made.
 */
import { stableStringify } from '../util.js';

/** C(n, k) as a float (exact for the small n used here). */
export function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let r = 1;
  for (let i = 1; i <= Math.min(k, n - k); i++) r = (r * (n - Math.min(k, n - k) + i)) / i;
  return r;
}

/** pass^k of one task: C(successes, k) / C(trials, k). */
export function passHatK(successes: number, trials: number, k: number): number {
  if (!(k >= 1 && k <= trials)) throw new RangeError(`pass^k needs 1 <= k <= trials, got k=${k}, trials=${trials}`);
  if (successes < 0 || successes > trials) throw new RangeError(`successes must be in [0, ${trials}], got ${successes}`);
  return choose(successes, k) / choose(trials, k);
}

/** Mean pass^k over tasks. */
export function meanPassHatK(results: readonly { successes: number; trials: number }[], k: number): number {
  if (!results.length) return 0;
  return results.reduce((a, r) => a + passHatK(r.successes, r.trials, k), 0) / results.length;
}

/** A tool call by name with parsed arguments (what the process metrics compare). */
export interface CallLike {
  name: string;
  arguments: Record<string, unknown>;
}

/** `want` is contained in `got` (objects: every key of want matches; arrays and scalars: equal). */
export function subsetMatch(want: unknown, got: unknown): boolean {
  if (want && typeof want === 'object' && !Array.isArray(want)) {
    if (!got || typeof got !== 'object' || Array.isArray(got)) return false;
    return Object.entries(want as Record<string, unknown>).every(([k, v]) => subsetMatch(v, (got as Record<string, unknown>)[k]));
  }
  return stableStringify(want) === stableStringify(got);
}

/** Milestones matched in order (a milestone matches a call with its name and its arguments as a subset) / milestones. */
export function processAccuracy(milestones: readonly CallLike[], calls: readonly CallLike[]): number {
  if (!milestones.length) return 1;
  let m = 0;
  for (const c of calls) if (m < milestones.length && c.name === milestones[m]!.name && subsetMatch(milestones[m]!.arguments, c.arguments)) m++;
  return m / milestones.length;
}

/** The share of true values. */
export function endAccuracy(correct: readonly boolean[]): number {
  return correct.length ? correct.filter(Boolean).length / correct.length : 0;
}

/** Deep comparison of two states; the paths that differ. */
export function compareState(expected: unknown, actual: unknown): { equal: boolean; diffs: string[] } {
  const diffs: string[] = [];
  const walk = (e: unknown, a: unknown, path: string): void => {
    if (e && a && typeof e === 'object' && typeof a === 'object' && !Array.isArray(e) && !Array.isArray(a)) {
      const keys = new Set([...Object.keys(e as object), ...Object.keys(a as object)]);
      for (const k of keys) walk((e as Record<string, unknown>)[k], (a as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      return;
    }
    if (stableStringify(e) !== stableStringify(a)) diffs.push(path || '(root)');
  };
  walk(expected, actual, '');
  return { equal: diffs.length === 0, diffs };
}
