/**
 * Tool use, multi-turn: prompt "Q 23*47\n". The policy may call the calculator with a line
 *   CALL calc(<expr>)
 * and the environment answers with the observation line "= <value>\n"; the policy ends with
 *   ANSWER <n>
 * Reward 1 for the right answer (0 otherwise); a malformed line ends the episode with 0. At most
 * `maxCalls` calls. Expressions are parsed (integers, + - * /, parentheses), never eval'd.
 */
import { hash32 } from '@karakoram/core';
import { firstLine, type Env, type StepResult } from './types.js';

/** Evaluates an integer expression (+ - * with truncating /, unary minus, parentheses): the calculator tool. Throws when it does not parse. */
export function evaluateExpression(expr: string): number {
  let i = 0;
  const s = expr.replace(/\s+/g, '');
  const fail = (): never => {
    throw new Error(`cannot parse "${expr}" at ${i}`);
  };
  const atom = (): number => {
    if (s[i] === '(') {
      i++;
      const v = sum();
      if (s[i++] !== ')') fail();
      return v;
    }
    if (s[i] === '-') {
      i++;
      return -atom();
    }
    const m = /^\d+/.exec(s.slice(i));
    if (!m) return fail();
    i += m[0].length;
    return Number(m[0]);
  };
  const prod = (): number => {
    let v = atom();
    while (s[i] === '*' || s[i] === '/') v = s[i++] === '*' ? v * atom() : Math.trunc(v / atom());
    return v;
  };
  const sum = (): number => {
    let v = prod();
    while (s[i] === '+' || s[i] === '-') v = s[i++] === '+' ? v + prod() : v - prod();
    return v;
  };
  const v = sum();
  if (i !== s.length || !Number.isFinite(v)) fail();
  return v;
}

/** Multi-turn tool use: the policy may call a calculator tool before answering a multiplication. */
export class CalculatorEnv implements Env {
  readonly name = 'calculator';
  readonly tokenBudget: number;
  private answer = 0;
  private calls = 0;
  constructor(readonly options: { maxOperand?: number; maxCalls?: number; tokenBudget?: number } = {}) {
    this.tokenBudget = options.tokenBudget ?? 40;
  }
  /** Draws a two-digit multiplication for `seed` and returns its prompt ("Q a*b"). */
  reset(seed: number): string {
    const max = this.options.maxOperand ?? 99;
    const a = 10 + (hash32(seed, 0) % (max - 9));
    const b = 10 + (hash32(seed, 1) % (max - 9));
    this.answer = a * b;
    this.calls = 0;
    return `Q ${a}*${b}\n`;
  }
  /** Answers a "CALL calc(EXPR)" line with the result as an observation (up to `maxCalls`), or scores an "ANSWER N" line. */
  step(action: string): StepResult {
    const line = firstLine(action);
    const call = /^CALL calc\((.*)\)$/.exec(line);
    if (call) {
      if (++this.calls > (this.options.maxCalls ?? 2)) return { reward: 0, done: true, info: { error: 'too many calls' } };
      let value: string;
      try {
        value = String(evaluateExpression(call[1]!));
      } catch (e) {
        value = `error: ${(e as Error).message}`;
      }
      return { observation: `= ${value}\n`, reward: 0, done: false, info: { call: call[1] } };
    }
    const ans = /^ANSWER (-?\d+)$/.exec(line);
    if (ans) return { reward: Number(ans[1]) === this.answer ? 1 : 0, done: true, info: { answer: this.answer, calls: this.calls } };
    return { reward: 0, done: true, info: { error: 'malformed', line } };
  }
}
