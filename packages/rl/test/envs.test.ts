import { describe, expect, it } from 'vitest';
import { ByteTokenizer } from '@karakoram/model';
import { ArithmeticEnv, CalculatorEnv, InferenceEngine, ReverseEnv, arithmeticProblem, evaluateExpression, runEpisodes, type Episode, type Trajectory } from '../src/index.js';
import { tinyModel } from './helpers.js';

describe('environments', () => {
  it('arithmetic: exact-answer reward, disjoint train and held-out prompts', () => {
    const env = new ArithmeticEnv({ maxOperand: 20 });
    const prompt = env.reset(5);
    const m = /^(\d+)\+(\d+)=$/.exec(prompt)!;
    const answer = Number(m[1]) + Number(m[2]);
    expect(env.step(`${answer}\n`)).toMatchObject({ reward: 1, done: true });
    expect(env.step(`${answer + 1}\n`).reward).toBe(0);
    expect(env.step(`${answer}x\n`).reward).toBe(0);
    const key = (s: number, split: 'train' | 'heldout'): string => JSON.stringify(arithmeticProblem(s, { maxOperand: 20, split }));
    const train = new Set(Array.from({ length: 300 }, (_, s) => key(s, 'train')));
    const held = new Set(Array.from({ length: 300 }, (_, s) => key(s, 'heldout')));
    expect([...held].filter((h) => train.has(h))).toEqual([]);
    expect(held.size).toBeGreaterThan(20);
  });

  it('reverse: exact reversal 1, partial credit below 1', () => {
    const env = new ReverseEnv();
    const s = /^rev (\w+)=$/.exec(env.reset(3))![1]!;
    const rev = [...s].reverse().join('');
    expect(env.step(`${rev}\n`).reward).toBe(1);
    const partial = env.step(`${rev.slice(0, -1)}z\n`).reward;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(1);
  });

  it('calculator tool: CALL calc(...) returns an observation, ANSWER ends the episode', () => {
    expect(evaluateExpression('(3+4)*12-5/2')).toBe(82);
    expect(() => evaluateExpression('process.exit()')).toThrow();
    const env = new CalculatorEnv();
    const [, a, b] = /^Q (\d+)\*(\d+)\n$/.exec(env.reset(9))!;
    const call = env.step('CALL calc(' + a + '*' + b + ')\n');
    expect(call).toMatchObject({ done: false, reward: 0, observation: `= ${Number(a) * Number(b)}\n` });
    expect(env.step(`ANSWER ${Number(a) * Number(b)}\n`)).toMatchObject({ reward: 1, done: true });
    env.reset(9);
    expect(env.step('hello\n')).toMatchObject({ reward: 0, done: true });
  });

  it('multi-turn episodes: observations enter the context as non-policy tokens', async () => {
    const tok = new ByteTokenizer();
    const nl = tok.encode('\n')[0]!;
    const engine = new InferenceEngine(tinyModel(1), { seed: 2, stopTokens: [nl] });
    // The untrained policy writes garbage; force a tool call by seeding its first turn.
    const env = new CalculatorEnv({ tokenBudget: 30 });
    const prompt = tok.encode(env.reset(1));
    const first = tok.encode('CALL calc(2*3)\n');
    const traj: Trajectory = {
      id: 1, group: 0, prompt, tokens: [...first], logProbs: first.map(() => -1), policy: first.map(() => 1), temperature: 1, topP: 1, maxTokens: 30,
      rng: { seed: 0, counter: first.length }, iterationTokens: 0, turnStart: 0, status: 'stopped', versions: [],
    };
    // A finished first turn goes to the env; runEpisodes appends "= 6\n" and lets the policy go on.
    const ep: Episode = { traj, env };
    const r = env.step(tok.decode(first));
    expect(r.observation).toBe('= 6\n');
    for (const id of tok.encode(r.observation!)) {
      traj.tokens.push(id);
      traj.logProbs.push(NaN);
      traj.policy.push(0);
    }
    traj.turnStart = traj.tokens.length;
    traj.status = 'active';
    traj.rng.seed = (await import('../src/sampling.js')).trajectorySeed(2, 1);
    const out = await runEpisodes(engine, [ep], { tokenizer: tok });
    expect(out.done).toHaveLength(1);
    const t = out.done[0]!.traj;
    expect(tok.decode(t.tokens.slice(0, first.length + 4))).toBe('CALL calc(2*3)\n= 6\n');
    expect(t.policy.slice(first.length, first.length + 4)).toEqual([0, 0, 0, 0]);
    expect(t.policy.slice(first.length + 4).every((p) => p === 1)).toBe(true);
    expect(typeof out.done[0]!.reward).toBe('number');
  });
});
