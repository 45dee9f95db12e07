/**
 * Verifiable arithmetic, single turn: prompt "12+7=", the policy writes the answer and a newline;
 * reward 1 for the exact integer, 0 otherwise.
 */
import { hash32 } from '@karakoram/core';
import { firstLine, inSplit, type Env, type Split, type StepResult } from './types.js';

/** Settings of {@link ArithmeticEnv}. */
export interface ArithmeticOptions {
  /** Operands are drawn from [0, maxOperand]. */
  maxOperand?: number;
  ops?: readonly ('+' | '-' | '*')[];
  split?: Split;
  tokenBudget?: number;
}

/** The arithmetic problem for `seed` (deterministic; drawn until it falls in `o.split`). */
export function arithmeticProblem(seed: number, o: ArithmeticOptions = {}): { a: number; b: number; op: '+' | '-' | '*'; answer: number } {
  const max = o.maxOperand ?? 50;
  const ops = o.ops ?? ['+'];
  for (let k = 0; ; k++) {
    const h = hash32(seed, k);
    const a = h % (max + 1);
    const b = hash32(h, 1) % (max + 1);
    const op = ops[hash32(h, 2) % ops.length]!;
    if (inSplit(a * 100003 + b * 31 + op.charCodeAt(0), o.split ?? 'all')) return { a, b, op, answer: op === '+' ? a + b : op === '-' ? a - b : a * b };
  }
}

/** Single-turn arithmetic: answer "a op b=" with the number. */
export class ArithmeticEnv implements Env {
  readonly name = 'arithmetic';
  readonly tokenBudget: number;
  private answer = 0;
  constructor(readonly options: ArithmeticOptions = {}) {
    this.tokenBudget = options.tokenBudget ?? 8;
  }
  /** Draws the problem for `seed` and returns its prompt ("a+b="). */
  reset(seed: number): string {
    const p = arithmeticProblem(seed, this.options);
    this.answer = p.answer;
    return `${p.a}${p.op}${p.b}=`;
  }
  /** Rewards 1 for the exact answer on the first line, else 0; the episode ends. */
  step(action: string): StepResult {
    const text = firstLine(action);
    const ok = /^-?\d+$/.test(text) && Number(text) === this.answer;
    return { reward: ok ? 1 : 0, done: true, info: { answer: this.answer, given: text } };
  }
}
