/**
 * A string task, single turn: prompt "rev abc=", answer "cba"; reward 1 for the exact reversal,
 * otherwise the fraction of positions that match (a denser signal for small models).
 */
import { hash32 } from '@karakoram/core';
import { firstLine, type Env, type StepResult } from './types.js';

/** Single-turn string reversal with partial credit. */
export class ReverseEnv implements Env {
  readonly name = 'reverse';
  readonly tokenBudget: number;
  private target = '';
  constructor(readonly options: { minLength?: number; maxLength?: number; alphabet?: string; tokenBudget?: number } = {}) {
    this.tokenBudget = options.tokenBudget ?? (options.maxLength ?? 5) + 2;
  }
  /** Draws a random string for `seed` and returns its prompt ("rev STRING="). */
  reset(seed: number): string {
    const lo = this.options.minLength ?? 3;
    const hi = this.options.maxLength ?? 5;
    const abc = this.options.alphabet ?? 'abcdefgh';
    const n = lo + (hash32(seed, 0) % (hi - lo + 1));
    let s = '';
    for (let i = 0; i < n; i++) s += abc[hash32(seed, i + 1) % abc.length];
    this.target = [...s].reverse().join('');
    return `rev ${s}=`;
  }
  /** Rewards 1 for the exact reversal, else partial credit (up to 0.5) for characters in place. */
  step(action: string): StepResult {
    const got = firstLine(action);
    if (got === this.target) return { reward: 1, done: true, info: { target: this.target } };
    let same = 0;
    for (let i = 0; i < this.target.length; i++) if (got[i] === this.target[i]) same++;
    return { reward: same / Math.max(this.target.length, got.length) * 0.5, done: true, info: { target: this.target, given: got } };
  }
}
