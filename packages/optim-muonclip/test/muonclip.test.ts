import { beforeAll, describe, expect, it } from 'vitest';
import { Module, ops, setBackend, tidy, type HeadClipRows, type QkClipTarget, type Tensor } from '@karakoram/core';
import { createCpuBackend } from '@karakoram/backend-cpu';
import { Muon } from '@karakoram/optim-muon';
import { MHA, MLA, type MlaConfig } from '@karakoram/layer-mla';
import { MuonClip, formatQkClipLog } from '../src/index.js';

beforeAll(async () => {
  setBackend(await createCpuBackend());
});

const H = 3;
const NOPE = 2;
const ROPE = 1;
const V = 2;
const D = 4;

/** A fake MLA-shaped attention layer: q rows per head [nope | rope], kv rows per head [k_nope | v]. */
class FakeAttn extends Module implements QkClipTarget {
  readonly qkClip = true as const;
  readonly numHeads = H;
  readonly q: Tensor;
  readonly kv: Tensor;
  logits: Float32Array | undefined;
  constructor(seed: number) {
    super();
    const init = (shape: number[], s: number): Tensor => tidy(() => ops.randomNormal(shape, seed * 10 + s));
    this.q = this.param('q.weight', init([H * (NOPE + ROPE), D], 1), 'matrix');
    this.param('kv_a.weight', init([NOPE + ROPE, D], 2), 'matrix'); // holds the shared k_rope: never clipped
    this.kv = this.param('kv.weight', init([H * (NOPE + V), D], 3), 'matrix');
    this.param('o.weight', init([D, H * V], 4), 'matrix');
    this.param('norm.weight', tidy(() => ops.add(init([D], 5), 1)), 'norm');
  }
  lastMaxLogits(): Float32Array | undefined {
    return this.logits;
  }
  resetMaxLogits(): void {
    this.logits = undefined;
  }
  headRows(h: number): HeadClipRows {
    const qh = NOPE + ROPE;
    const kvh = NOPE + V;
    return {
      sqrtGamma: [
        { param: this.q, name: 'q.weight', start: h * qh, end: h * qh + NOPE },
        { param: this.kv, name: 'kv.weight', start: h * kvh, end: h * kvh + NOPE },
      ],
      gamma: [{ param: this.q, name: 'q.weight', start: h * qh + NOPE, end: (h + 1) * qh }],
    };
  }
}

class Net extends Module {
  readonly attn: FakeAttn;
  readonly attn2: FakeAttn;
  constructor() {
    super();
    this.attn = this.child('attn', new FakeAttn(1));
    this.attn2 = this.child('attn2', new FakeAttn(2));
    this.param('embed.weight', tidy(() => ops.randomNormal([5, D], 77)), 'embedding');
  }
}

const bits = (t: Tensor): Uint32Array => new Uint32Array((t.dataSync() as Float32Array).slice().buffer);

function grads(params: readonly Tensor[]): Tensor[] {
  return params.map((p, i) => tidy(() => ops.randomNormal(p.shape, 1000 + i, 0, 0.1)));
}

describe('QK-Clip on a fake target', () => {
  it('scales exactly the named rows of the clipped heads, after the Muon update, and nothing else', () => {
    const clipped = new Net();
    const plain = new Net();
    clipped.attn.logits = Float32Array.from([150, 80, 100]); // head 0 > tau; head 2 == tau is not clipped
    clipped.attn2.logits = Float32Array.from([5, 400, 1]); // head 1
    const opt = new MuonClip(clipped, { lr: 0.02, tau: 100 });
    const ref = new Muon(plain, { lr: 0.02 });
    expect(opt.targets.map((t) => t.name)).toEqual(['attn', 'attn2']);
    const g = grads(opt.params);
    const log = opt.step(g);
    ref.step(g);

    const g0 = 100 / 150;
    const g1 = 100 / 400;
    // name -> row -> factor (written out by hand from the layout, not from headRows)
    const factors: Record<string, Record<number, number>> = {
      'attn.q.weight': { 0: Math.sqrt(g0), 1: Math.sqrt(g0), 2: g0 },
      'attn.kv.weight': { 0: Math.sqrt(g0), 1: Math.sqrt(g0) },
      'attn2.q.weight': { 3: Math.sqrt(g1), 4: Math.sqrt(g1), 5: g1 },
      'attn2.kv.weight': { 4: Math.sqrt(g1), 5: Math.sqrt(g1) },
    };
    const refState = plain.stateDict();
    let scaled = 0;
    let untouched = 0;
    for (const [name, t] of clipped.stateDict()) {
      const want = bits(refState.get(name)!);
      const got = bits(t);
      const vals = refState.get(name)!.dataSync();
      const cols = t.rank === 2 ? t.shape[1]! : t.size;
      for (let i = 0; i < got.length; i++) {
        const row = Math.floor(i / cols);
        const f = factors[name]?.[row];
        if (f === undefined) {
          expect(got[i], `${name}[${i}]`).toBe(want[i]);
          untouched++;
        } else {
          const w = new Uint32Array(Float32Array.of(Math.fround(vals[i]! * Math.fround(f))).buffer)[0];
          expect(got[i], `${name}[${i}]`).toBe(w);
          expect(got[i]).not.toBe(want[i]);
          scaled++;
        }
      }
    }
    expect(scaled).toBe((3 + 2 + 3 + 2) * D);
    expect(untouched).toBeGreaterThan(100);

    expect(log.step).toBe(1);
    expect(log.maxLogit).toBe(400);
    expect(log.clippedHeads).toBe(2);
    expect(log.layers.map((l) => [l.name, l.maxLogit, l.clipped])).toEqual([
      ['attn', 150, [{ head: 0, maxLogit: 150, gamma: g0 }]],
      ['attn2', 400, [{ head: 1, maxLogit: 400, gamma: g1 }]],
    ]);
    expect(opt.lastLog).toBe(log);
    expect(formatQkClipLog(log)).toContain('0(0.667)');

    // The logits were consumed: a step with no recorded forward pass logs nothing and clips nothing.
    expect(clipped.attn.lastMaxLogits()).toBeUndefined();
    const log2 = opt.step(g);
    expect(log2.maxLogit).toBeUndefined();
    expect(log2.clippedHeads).toBe(0);
    g.forEach((t) => t.dispose());
    opt.dispose();
    ref.dispose();
  });

  it('clip: false logs the heads over tau but leaves the weights equal to plain Muon, bit for bit', () => {
    const a = new Net();
    const b = new Net();
    a.attn.logits = Float32Array.from([1000, 1, 1]);
    const opt = new MuonClip(a, { lr: 0.02, tau: 100, clip: false });
    const ref = new Muon(b, { lr: 0.02 });
    const g = grads(opt.params);
    const log = opt.step(g);
    ref.step(g);
    expect(log.clipEnabled).toBe(false);
    expect(log.layers[0]!.clipped).toEqual([{ head: 0, maxLogit: 1000, gamma: 0.1 }]);
    const bs = b.stateDict();
    for (const [name, t] of a.stateDict()) expect([...bits(t)], name).toEqual([...bits(bs.get(name)!)]);
    g.forEach((t) => t.dispose());
  });

  it('refuses a model without attention layers and a bad tau', () => {
    const m = new FakeAttn(3);
    expect(() => new MuonClip(m, { lr: 0.1, tau: 0 })).toThrow(/tau/);
    class NoAttn extends Module {
      constructor() {
        super();
        this.param('w', ops.zeros([2, 2]), 'matrix');
      }
    }
    expect(() => new MuonClip(new NoAttn(), { lr: 0.1 })).toThrow(/no QK-Clip target/);
  });
});

const mlaCfg = (over: Partial<MlaConfig> = {}): MlaConfig => ({
  hidden_size: 16, num_attention_heads: 4, q_lora_rank: 8, kv_lora_rank: 6,
  qk_nope_head_dim: 4, qk_rope_head_dim: 4, v_head_dim: 5, rope_theta: 10000, rope_scaling: null,
  rms_norm_eps: 1e-6, initializer_range: 0.6, ...over,
});

describe('QK-Clip on real attention layers', () => {
  const cases: [string, () => MHA | MLA][] = [
    ['MHA', () => new MHA({ hidden_size: 16, num_attention_heads: 4, initializer_range: 0.6 }, { seed: 3 })],
    ['MLA', () => new MLA(mlaCfg(), { seed: 5 })],
    ['MLA without q_lora', () => new MLA(mlaCfg({ q_lora_rank: null }), { seed: 6 })],
  ];
  for (const [label, make] of cases) {
    it(`${label}: after a clip, the max logits recomputed on the same batch are <= tau`, () => {
      const layer = make();
      const x = ops.randomNormal([2, 7, 16], 9);
      const record = (): Float32Array =>
        tidy(() => {
          layer.forward(x, { recordMaxLogits: true });
          return Float32Array.from(layer.lastMaxLogits()!);
        });
      const s0 = record();
      const sorted = [...s0].sort((p, q) => p - q);
      const tau = (sorted[0]! + sorted[sorted.length - 1]!) / 2;
      const over = [...s0.keys()].filter((h) => s0[h]! > tau);
      expect(over.length).toBeGreaterThan(0);
      expect(over.length).toBeLessThan(s0.length);

      // lr 0: the Muon/AdamW update leaves every weight as it is, so only the clip moves the logits.
      const opt = new MuonClip(layer, { lr: 0, tau });
      const g = opt.params.map((p) => ops.zerosLike(p));
      const log = opt.step(g);
      expect(log.layers[0]!.clipped.map((c) => c.head)).toEqual(over);

      const s1 = record();
      for (let h = 0; h < s0.length; h++) {
        if (s0[h]! > tau) {
          expect(s1[h]!, `head ${h}`).toBeLessThanOrEqual(tau * (1 + 1e-4));
          expect(s1[h]!, `head ${h}`).toBeGreaterThanOrEqual(tau * (1 - 1e-4));
        } else {
          expect(Math.abs(s1[h]! - s0[h]!), `head ${h}`).toBeLessThanOrEqual(1e-6 * Math.abs(s0[h]!));
        }
      }
      g.forEach((t) => t.dispose());
      x.dispose();
      opt.dispose();
      layer.dispose();
    });
  }

  it('MLA: the shared k_rope and the v rows are not touched', () => {
    const layer = new MLA(mlaCfg(), { seed: 5 });
    const x = ops.randomNormal([2, 7, 16], 9);
    tidy(() => layer.forward(x, { recordMaxLogits: true }));
    const before = new Map([...layer.stateDict()].map(([k, t]) => [k, bits(t)]));
    const opt = new MuonClip(layer, { lr: 0, tau: 1e-3 }); // every head clipped
    const log = opt.step(opt.params.map((p) => ops.zerosLike(p)));
    expect(log.clippedHeads).toBe(4);
    for (const name of ['kv_a_proj_with_mqa.weight', 'o_proj.weight', 'q_a_proj.weight', 'q_a_layernorm.weight', 'kv_a_layernorm.weight']) {
      expect([...bits(layer.stateDict().get(name)!)], name).toEqual([...before.get(name)!]);
    }
    // kv_b_proj: per head, rows [0, nope) scaled and rows [nope, nope + v) (the v part) untouched.
    const kvb = bits(layer.kv_b_proj.weight);
    const old = before.get('kv_b_proj.weight')!;
    const cols = layer.kv_b_proj.weight.shape[1]!;
    for (let h = 0; h < 4; h++) {
      for (let r = 0; r < 9; r++) {
        const row = h * 9 + r;
        const same = [...kvb.slice(row * cols, (row + 1) * cols)].every((v, i) => v === old[row * cols + i]);
        expect(same, `kv_b_proj row ${row}`).toBe(r >= 4);
      }
    }
    x.dispose();
    opt.dispose();
  });
});
