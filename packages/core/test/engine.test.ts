import { beforeAll, describe, expect, it } from 'vitest';
import { KarakoramError, engine, keep, ops, tidy, type Backend, type Tensor } from '../src/index.js';
import { useCpu } from './cpu.js';

let be: Backend;
const live = (): number => be.memory().buffers;

beforeAll(async () => {
  be = await useCpu();
});

describe('tidy, keep and dispose', () => {
  it('frees everything but the result', () => {
    const before = live();
    const y = tidy(() => {
      const a = ops.ones([3, 3]);
      const b = ops.add(a, a);
      return ops.mul(b, 2);
    });
    expect(live()).toBe(before + 1);
    expect(Array.from(y.dataSync())).toEqual(new Array(9).fill(4));
    y.dispose();
    expect(live()).toBe(before);
  });

  it('keeps tensors found in arrays, maps and plain objects', () => {
    const before = live();
    const r = tidy(() => {
      const a = ops.ones([2]);
      ops.zeros([5]); // dropped
      return { list: [a, ops.full([1], 3)], map: new Map([['m', ops.full([1], 4)]]), nested: { deep: { t: ops.full([1], 5) } }, n: 1 };
    });
    expect(live()).toBe(before + 4);
    expect(r.map.get('m')!.dataSync()[0]).toBe(4);
    expect(r.nested.deep.t.dataSync()[0]).toBe(5);
    for (const t of [...r.list, r.map.get('m')!, r.nested.deep.t]) t.dispose();
    expect(live()).toBe(before);
  });

  it('keep() survives every enclosing scope until disposed', () => {
    const before = live();
    let kept: Tensor | undefined;
    tidy(() => {
      tidy(() => {
        kept = keep(ops.full([2], 7));
        ops.ones([4]);
      });
      ops.ones([4]);
    });
    expect(live()).toBe(before + 1);
    expect(kept!.disposed).toBe(false);
    expect(Array.from(kept!.dataSync())).toEqual([7, 7]);
    kept!.dispose();
    expect(kept!.disposed).toBe(true);
    expect(live()).toBe(before);
  });

  it('nested scopes hand their result to the enclosing scope', () => {
    const before = live();
    tidy(() => {
      const inner = tidy(() => ops.add(ops.ones([2]), 1));
      expect(inner.disposed).toBe(false);
      expect(Array.from(inner.dataSync())).toEqual([2, 2]);
      expect(engine.scopes.length).toBe(1);
    });
    expect(engine.scopes.length).toBe(0);
    expect(live()).toBe(before);
  });

  it('frees the scope when fn throws, and refuses async functions', () => {
    const before = live();
    expect(() =>
      tidy(() => {
        ops.ones([3]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(live()).toBe(before);
    expect(engine.scopes.length).toBe(0);
    expect(() => tidy((async () => 1) as unknown as () => number)).toThrow(/async/);
  });

  it('a disposed tensor says so when used', () => {
    const t = ops.ones([2, 2]);
    t.dispose();
    t.dispose(); // idempotent
    expect(() => ops.exp(t)).toThrow(KarakoramError);
    expect(() => ops.exp(t)).toThrow(/already disposed/);
    expect(() => t.dataSync()).toThrow(/\[2, 2\]/);
  });
});

describe('reshaped views share refcounted storage', () => {
  it('the storage lives until the last view is disposed', () => {
    const before = live();
    const a = ops.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = ops.reshape(a, [3, 2]);
    const c = ops.reshape(b, [6]);
    expect(live()).toBe(before + 1);
    a.dispose();
    expect(b.disposed).toBe(false);
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    c.dispose();
    expect(live()).toBe(before + 1);
    expect(b.arraySync()).toEqual([[1, 2], [3, 4], [5, 6]]);
    b.dispose();
    expect(live()).toBe(before);
  });

  it('tidy keeps a returned view and frees its source tensor without freeing the storage', () => {
    const before = live();
    const v = tidy(() => ops.reshape(ops.tensor([1, 2, 3, 4], [4]), [2, 2]));
    expect(live()).toBe(before + 1);
    expect(v.arraySync()).toEqual([[1, 2], [3, 4]]);
    v.dispose();
    expect(live()).toBe(before);
  });

  it('stopGradient, identity casts and identity permutes are views too', () => {
    const before = live();
    const a = ops.tensor([1, 2]);
    const e = ops.expandDims(a, 0);
    const views = [ops.stopGradient(a), ops.cast(a, 'f32'), ops.permute(a, [0]), e, ops.squeeze(e, 0)];
    expect(live()).toBe(before + 1);
    a.dispose();
    for (const v of views) expect(Array.from(v.dataSync())).toEqual([1, 2]);
    for (const v of views) v.dispose();
    expect(live()).toBe(before);
  });

  it('assign() swaps storage, keeping identity; the old storage is freed', () => {
    const before = live();
    const p = ops.tensor([1, 2, 3]);
    const id = p.id;
    const next = ops.tensor([4, 5, 6]);
    p.assign(next);
    next.dispose();
    expect(p.id).toBe(id);
    expect(Array.from(p.dataSync())).toEqual([4, 5, 6]);
    expect(live()).toBe(before + 1);
    expect(() => tidy(() => p.assign(ops.tensor([1, 2])))).toThrow(/cannot assign f32\[2\] to f32\[3\]/);
    p.dispose();
    expect(live()).toBe(before);
  });
});
