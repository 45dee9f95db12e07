import { describe, expect, it } from 'vitest';
import {
  choose, compareState, endAccuracy, evaluateModel, meanPassHatK, oracleAgent, passHatK, processAccuracy, replayCalls, sampleAgents, templateTask, templateTools,
  type ToolSpec,
} from '../src/index.js';

describe('tau-bench pass^k', () => {
  it('is C(successes, k) / C(trials, k), by hand', () => {
    expect(choose(5, 2)).toBe(10);
    expect(choose(4, 0)).toBe(1);
    expect(choose(3, 4)).toBe(0);
    // 3 successes of 4 trials: pass^1 = 3/4, pass^2 = C(3,2)/C(4,2) = 3/6, pass^3 = 1/4, pass^4 = 0.
    expect(passHatK(3, 4, 1)).toBeCloseTo(0.75, 12);
    expect(passHatK(3, 4, 2)).toBeCloseTo(0.5, 12);
    expect(passHatK(3, 4, 3)).toBeCloseTo(0.25, 12);
    expect(passHatK(3, 4, 4)).toBe(0);
    expect(passHatK(4, 4, 4)).toBe(1);
    // 2 of 5, k=2: C(2,2)/C(5,2) = 1/10.
    expect(passHatK(2, 5, 2)).toBeCloseTo(0.1, 12);
    // Mean over tasks: (0.5 + 0.1 + 1) / 3.
    expect(meanPassHatK([{ successes: 3, trials: 4 }, { successes: 2, trials: 5 }, { successes: 4, trials: 4 }], 2)).toBeCloseTo((0.5 + 0.1 + 1) / 3, 12);
    expect(() => passHatK(1, 3, 4)).toThrow(/1 <= k <= trials/);
  });
});

describe('ACEBench accuracies', () => {
  it('process accuracy: milestones matched in order, arguments as subsets', () => {
    const ms = [
      { name: 'search', arguments: { q: 'paris' } },
      { name: 'book', arguments: { city: 'paris' } },
      { name: 'pay', arguments: {} },
    ];
    // All three in order, with extra calls and extra argument keys: 3/3.
    expect(processAccuracy(ms, [{ name: 'search', arguments: { q: 'paris', n: 3 } }, { name: 'noop', arguments: {} }, { name: 'book', arguments: { city: 'paris' } }, { name: 'pay', arguments: { card: 1 } }])).toBe(1);
    // book with the wrong city does not match, so pay cannot match after it: 1/3.
    expect(processAccuracy(ms, [{ name: 'search', arguments: { q: 'paris' } }, { name: 'book', arguments: { city: 'rome' } }, { name: 'pay', arguments: {} }])).toBeCloseTo(1 / 3, 12);
    // Out of order: pay, book, search → only search matches first milestone: 1/3.
    expect(processAccuracy(ms, [{ name: 'pay', arguments: {} }, { name: 'book', arguments: { city: 'paris' } }, { name: 'search', arguments: { q: 'paris' } }])).toBeCloseTo(1 / 3, 12);
    expect(processAccuracy(ms, [])).toBe(0);
    expect(processAccuracy([], [])).toBe(1);
  });

  it('end accuracy and state comparison', () => {
    expect(endAccuracy([true, false, true, true])).toBe(0.75);
    expect(endAccuracy([])).toBe(0);
    expect(compareState({ a: { x: 1 }, b: [1, 2] }, { b: [1, 2], a: { x: 1 } })).toEqual({ equal: true, diffs: [] });
    expect(compareState({ a: { x: 1, y: 2 } }, { a: { x: 1, y: 3 }, c: 1 })).toEqual({ equal: false, diffs: ['a.y', 'c'] });
  });

  it('the world model replays calls into the expected state', () => {
    const s = replayCalls({}, [
      { name: 'create_order', arguments: { name: 'A' } },
      { name: 'create_order', arguments: { name: 'B' } },
      { name: 'update_order', arguments: { id: 'order-2', status: 'closed' } },
      { name: 'delete_order', arguments: { id: 'order-4' } },
    ]);
    expect(s).toEqual({ order: { 'order-1': { name: 'A', id: 'order-1' }, 'order-2': { name: 'B', id: 'order-2', status: 'closed' } } });
  });
});

describe('evaluateModel (tau-bench state checking, pass^k, ACEBench accuracies)', () => {
  const tools: ToolSpec[] = templateTools('shop_orders', 3).map((t) => ({ ...t, id: `syn:shop_orders/${t.name}`, domain: 'shop_orders', origin: { kind: 'synthetic', category: 'shop', domain: 'shop_orders', via: 'template' }, schemaHash: '' }));
  const [agent] = sampleAgents(tools, { count: 1, toolsPerAgent: 3, seed: 0, pinTools: [], crossDomain: 0 });
  const task = templateTask(agent!, 0);

  it('an oracle agent passes every trial; a wrong one fails state and process', async () => {
    expect(task.expectedCalls.map((c) => c.name)).toEqual(['create_order', 'list_orders']);
    const oracle = oracleAgent(() => task.expectedCalls);
    const good = await evaluateModel(oracle, [{ task, agent: agent! }], { trials: 3, k: [1, 2, 3] });
    expect(good.tasks[0]!.successes).toBe(3);
    expect(good.passK).toEqual({ 1: 1, 2: 1, 3: 1 });
    expect(good.endAccuracy).toBe(1);
    expect(good.processAccuracy).toBe(1);
    // Only list (no create): the state stays empty (wrong), one milestone of two is not matched in order.
    const lazy = oracleAgent(() => [task.expectedCalls[1]!]);
    const bad = await evaluateModel(lazy, [{ task, agent: agent! }], { trials: 2 });
    expect(bad.tasks[0]!.successes).toBe(0);
    expect(bad.tasks[0]!.trials[0]!.stateDiffs).toEqual(['order']);
    expect(bad.passK).toEqual({ 1: 0, 2: 0 });
    expect(bad.processAccuracy).toBe(0);
  });

  it('injected failures (seeded) make some trials fail: pass^k falls with k', async () => {
    const oracle = oracleAgent(() => task.expectedCalls);
    const r = await evaluateModel(oracle, [{ task, agent: agent! }], { trials: 6, k: [1, 2, 6], failureRate: 0.3, seed: 5 });
    const s = r.tasks[0]!.successes;
    expect(s).toBeGreaterThan(0);
    expect(s).toBeLessThan(6);
    expect(r.passK[1]).toBeCloseTo(s / 6, 12);
    expect(r.passK[2]).toBeCloseTo((s * (s - 1)) / 30, 12);
    expect(r.passK[6]).toBe(0);
    // Same seed, same result.
    const again = await evaluateModel(oracleAgent(() => task.expectedCalls), [{ task, agent: agent! }], { trials: 6, k: [1], failureRate: 0.3, seed: 5 });
    expect(again.tasks[0]!.successes).toBe(s);
  });
});
