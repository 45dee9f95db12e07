import { beforeAll, describe, expect, it } from 'vitest';
import { KarakoramError, MismatchError, Module, ops, tidy, type Backend, type Tensor } from '../src/index.js';
import { createCpuBackend } from '../../backend-cpu/src/index.js';
import { useCpu } from './cpu.js';

let be: Backend;
beforeAll(async () => {
  be = await useCpu();
});

class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(inF: number, outF: number, seed: number) {
    super();
    this.weight = this.param('weight', ops.randomNormal([outF, inF], seed), 'matrix');
    this.bias = this.param('bias', ops.zeros([outF]), 'bias');
  }
}

class Block extends Module {
  readonly proj: Linear;
  readonly norm: Tensor;
  constructor(seed: number) {
    super();
    this.norm = this.param('norm', ops.ones([3]), 'norm');
    this.proj = this.child('proj', new Linear(3, 2, seed));
  }
}

class Net extends Module {
  readonly layers: Block[];
  readonly stat: Tensor;
  constructor(seed = 1) {
    super();
    this.stat = this.param('e_score_correction_bias', ops.zeros([2]), 'buffer');
    this.layers = [0, 1].map((i) => this.child(`layers.${i}`, new Block(seed + i)));
  }
}

const snapshot = (m: Module): Record<string, number[]> => Object.fromEntries([...m.stateDict()].map(([k, t]) => [k, Array.from(t.dataSync())]));

describe('Module', () => {
  it('names parameters with dotted paths, with roles and trainability', () => {
    const net = new Net();
    const named = net.namedParameters();
    expect(named.map((p) => p.name)).toEqual([
      'e_score_correction_bias',
      'layers.0.norm', 'layers.0.proj.weight', 'layers.0.proj.bias',
      'layers.1.norm', 'layers.1.proj.weight', 'layers.1.proj.bias',
    ]);
    expect(named.find((p) => p.name === 'layers.1.proj.weight')!.role).toBe('matrix');
    expect(named.find((p) => p.name === 'e_score_correction_bias')!.trainable).toBe(false);
    expect(net.parameters()).toHaveLength(6);
    expect([...net.modules()].map(([n]) => n)).toEqual(['', 'layers.0', 'layers.0.proj', 'layers.1', 'layers.1.proj']);
    expect(net.stateDict().get('layers.0.proj.weight')).toBe(net.layers[0]!.proj.weight);
    net.dispose();
  });

  it('parameters survive tidy scopes (they are kept)', () => {
    const net = tidy(() => new Net());
    expect(net.layers[0]!.proj.weight.disposed).toBe(false);
    expect([...net.layers[0]!.proj.weight.shape]).toEqual([2, 3]);
    net.dispose();
  });

  it('refuses duplicate names', () => {
    class Dup extends Module {
      constructor() {
        super();
        this.param('w', ops.zeros([1]), 'matrix');
        this.child('w', new Module());
      }
    }
    expect(() => tidy(() => new Dup())).toThrow(/duplicate name "w"/);
  });

  it('loadStateDict copies values and keeps parameter identity', () => {
    const a = new Net(1);
    const b = new Net(7);
    const w = a.layers[1]!.proj.weight;
    const want = snapshot(b);
    expect(snapshot(a)).not.toEqual(want);
    a.loadStateDict(b.stateDict());
    expect(snapshot(a)).toEqual(want);
    expect(a.layers[1]!.proj.weight).toBe(w);
    // The loaded storage is shared, refcounted: disposing the source keeps a's values.
    b.dispose();
    expect(snapshot(a)).toEqual(want);
    a.dispose();
  });

  it('refuses missing, unexpected, wrong-shape and wrong-dtype entries all at once, loading nothing', () => {
    const net = new Net(1);
    const before = snapshot(net);
    const state = new Map(new Net(5).stateDict());
    state.delete('layers.0.norm');
    state.set('layers.1.proj.weight', ops.zeros([3, 2]));
    state.set('layers.1.proj.bias', ops.zeros([2], 'i32'));
    state.set('layers.9.extra', ops.zeros([1]));
    let err: unknown;
    try {
      net.loadStateDict(state, 'checkpoint.safetensors');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MismatchError);
    const m = err as MismatchError;
    expect(m.problems).toEqual([
      'missing layers.0.norm [3]',
      'wrong shape for layers.1.proj.weight: [3, 2], expected [2, 3]',
      'wrong dtype for layers.1.proj.bias: i32, expected f32',
      'unexpected layers.9.extra',
    ]);
    expect(m.message).toContain('checkpoint.safetensors');
    expect(m.message).toContain('4 mismatch');
    for (const p of m.problems) expect(m.message).toContain(p);
    // Nothing was loaded, although most entries were fine.
    expect(snapshot(net)).toEqual(before);
    for (const t of state.values()) t.dispose();
    net.dispose();
  });

  it('refuses tensors on another backend or already disposed before loading any', async () => {
    const net = new Net(1);
    const before = snapshot(net);
    const other = await createCpuBackend();
    const state = new Map(new Net(3).stateDict());
    state.set('layers.1.norm', ops.ones([3], 'f32', other));
    const gone = ops.zeros([2, 3]);
    gone.dispose();
    state.set('layers.1.proj.weight', gone);
    expect(() => net.loadStateDict(state)).toThrow(KarakoramError);
    try {
      net.loadStateDict(state);
    } catch (e) {
      expect((e as MismatchError).problems).toEqual([
        'layers.1.norm lives on another backend (cpu) than the parameter (cpu)',
        'layers.1.proj.weight was already disposed',
      ]);
    }
    expect(snapshot(net)).toEqual(before);
    net.dispose();
  });

  it('dispose frees every parameter', () => {
    const before = be.memory().buffers;
    const net = new Net();
    expect(be.memory().buffers).toBe(before + 7);
    net.dispose();
    expect(be.memory().buffers).toBe(before);
  });
});
