import { beforeAll, describe, expect, it } from 'vitest';
import { ops, setBackend, tidy, valueAndGrads, type Tensor } from '@karakoram/core';
import { createCpuBackend } from '@karakoram/backend-cpu';
import { DeepseekV3ForCausalLM, parseModelConfig, sampleTopP, type ModelConfig } from '../src/index.js';

beforeAll(async () => {
  setBackend(await createCpuBackend());
});

const tiny = (over: Record<string, unknown> = {}): ModelConfig => parseModelConfig({
  architectures: ['DeepseekV3ForCausalLM'], model_type: 'kimi_k2',
  vocab_size: 40, hidden_size: 16, intermediate_size: 24, moe_intermediate_size: 8,
  num_hidden_layers: 3, first_k_dense_replace: 1, num_attention_heads: 2,
  n_routed_experts: 4, num_experts_per_tok: 2, n_shared_experts: 1, n_group: 2, topk_group: 1,
  routed_scaling_factor: 2.5, scoring_func: 'sigmoid', topk_method: 'noaux_tc', norm_topk_prob: true,
  q_lora_rank: 8, kv_lora_rank: 6, qk_nope_head_dim: 4, qk_rope_head_dim: 4, v_head_dim: 4,
  max_position_embeddings: 128, rope_theta: 50000,
  rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 32, beta_fast: 1, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
  initializer_range: 0.2, aux_loss_alpha: 0.001, ...over,
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const ids = (rows: number[][]): Tensor => ops.tensor(rows.flat(), [rows.length, rows[0]!.length], 'i32');

describe('DeepseekV3ForCausalLM', () => {
  it('state dict names, shapes and roles are exactly the HF checkpoint ones', () => {
    const c = tiny();
    const m = new DeepseekV3ForCausalLM(c, { seed: 1 });
    const expected: [string, number[]][] = [['model.embed_tokens.weight', [40, 16]]];
    for (let i = 0; i < 3; i++) {
      const p = `model.layers.${i}`;
      expected.push(
        [`${p}.input_layernorm.weight`, [16]],
        [`${p}.self_attn.q_a_proj.weight`, [8, 16]],
        [`${p}.self_attn.q_a_layernorm.weight`, [8]],
        [`${p}.self_attn.q_b_proj.weight`, [2 * 8, 8]],
        [`${p}.self_attn.kv_a_proj_with_mqa.weight`, [6 + 4, 16]],
        [`${p}.self_attn.kv_a_layernorm.weight`, [6]],
        [`${p}.self_attn.kv_b_proj.weight`, [2 * (4 + 4), 6]],
        [`${p}.self_attn.o_proj.weight`, [16, 2 * 4]],
        [`${p}.post_attention_layernorm.weight`, [16]],
      );
      if (i === 0) {
        expected.push([`${p}.mlp.gate_proj.weight`, [24, 16]], [`${p}.mlp.up_proj.weight`, [24, 16]], [`${p}.mlp.down_proj.weight`, [16, 24]]);
      } else {
        expected.push([`${p}.mlp.gate.weight`, [4, 16]], [`${p}.mlp.gate.e_score_correction_bias`, [4]]);
        for (let e = 0; e < 4; e++) expected.push([`${p}.mlp.experts.${e}.gate_proj.weight`, [8, 16]], [`${p}.mlp.experts.${e}.up_proj.weight`, [8, 16]], [`${p}.mlp.experts.${e}.down_proj.weight`, [16, 8]]);
        expected.push([`${p}.mlp.shared_experts.gate_proj.weight`, [8, 16]], [`${p}.mlp.shared_experts.up_proj.weight`, [8, 16]], [`${p}.mlp.shared_experts.down_proj.weight`, [16, 8]]);
      }
    }
    expected.push(['model.norm.weight', [16]], ['lm_head.weight', [40, 16]]);
    const got = m.namedParameters();
    expect(got.map((p) => [p.name, [...p.tensor.shape]])).toEqual(expected);
    const role = (n: string) => got.find((p) => p.name === n)!.role;
    expect(role('model.embed_tokens.weight')).toBe('embedding');
    expect(role('lm_head.weight')).toBe('head');
    expect(role('model.norm.weight')).toBe('norm');
    expect(role('model.layers.1.mlp.gate.e_score_correction_bias')).toBe('buffer');
    expect(role('model.layers.2.self_attn.kv_b_proj.weight')).toBe('matrix');
    // q_lora_rank null → q_proj
    const noLora = new DeepseekV3ForCausalLM(tiny({ q_lora_rank: null, num_hidden_layers: 1 }));
    expect(noLora.namedParameters().filter((p) => p.name.includes('self_attn.q')).map((p) => p.name)).toEqual(['model.layers.0.self_attn.q_proj.weight']);
  });

  it('helpers: qkClipTargets, maxLogitsByLayer, moeLayers', () => {
    const m = new DeepseekV3ForCausalLM(tiny(), { seed: 2 });
    expect(m.qkClipTargets().map((t) => t.name)).toEqual(['model.layers.0.self_attn', 'model.layers.1.self_attn', 'model.layers.2.self_attn']);
    expect(m.moeLayers().length).toBe(2);
    expect(m.maxLogitsByLayer().every((x) => x === undefined)).toBe(true);
    tidy(() => { m.forward(ids([[1, 2, 3, 4]]), { recordMaxLogits: true }); });
    const ml = m.maxLogitsByLayer();
    expect(ml.map((x) => x!.length)).toEqual([2, 2, 2]);
    expect(ml.every((x) => [...x!].every(Number.isFinite))).toBe(true);
  });

  it('absorbed prefill logits equal the full forward; incremental decoding too', () => {
    const m = new DeepseekV3ForCausalLM(tiny(), { seed: 3 });
    const rows = [[3, 7, 1, 9, 12, 5, 30, 2], [8, 8, 0, 39, 4, 21, 6, 17]];
    tidy(() => {
      const full = m.forward(ids(rows));
      expect(full.shape).toEqual([2, 8, 40]);
      const cache = m.createCache();
      const pre = m.prefill(ids(rows), cache);
      expect(maxAbsDiff(pre.dataSync(), full.dataSync())).toBeLessThan(1e-4);
      expect(cache.numbersPerToken).toBe(3 * (6 + 4));
      cache.dispose();
      // prefill 3, then one token at a time
      const inc = m.createCache();
      const parts = [m.prefill(ids(rows.map((r) => r.slice(0, 3))), inc)];
      for (let t = 3; t < 8; t++) parts.push(ops.reshape(m.decodeStep(ops.tensor(rows.map((r) => r[t]!), [2], 'i32'), inc), [2, 1, 40]));
      expect(maxAbsDiff(ops.concat(parts, 1).dataSync(), full.dataSync())).toBeLessThan(1e-4);
      expect(inc.length).toBe(8);
      inc.dispose();
    });
  });

  it('loss is next-token cross entropy (plus the balance loss when on) and is differentiable', () => {
    const m = new DeepseekV3ForCausalLM(tiny(), { seed: 4 });
    const x = ids([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]);
    const y = ids([[2, 3, 4, 5, 6], [7, 8, 9, 10, 11]]);
    const mask = ops.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]);
    tidy(() => {
      const plain = m.loss(x, y, mask, { auxLoss: false }).dataSync()[0]!;
      const logits = m.forward(x).arraySync() as number[][][];
      const yy = y.arraySync() as number[][], mm = mask.arraySync() as number[][];
      let s = 0, n = 0;
      logits.forEach((row, b) => row.forEach((l, t) => {
        if (!mm[b]![t]) return;
        const mx = Math.max(...l);
        const lse = mx + Math.log(l.reduce((a, v) => a + Math.exp(v - mx), 0));
        s += lse - l[yy[b]![t]!]!;
        n++;
      }));
      expect(plain).toBeCloseTo(s / n, 5);
      const withAux = m.loss(x, y, mask).dataSync()[0]!;
      const aux = m.forwardWithAux(x, { auxLoss: true }).auxLoss!.dataSync()[0]!;
      expect(aux).toBeGreaterThan(0);
      expect(withAux).toBeCloseTo(plain + aux, 6);
    });
    const params = m.parameters();
    const { value, grads } = valueAndGrads(() => m.loss(x, y, mask), params);
    expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
    const nonzero = grads.filter((g) => g.dataSync().some((v) => v !== 0)).length;
    // every trained tensor gets a gradient except experts no token was routed to
    expect(nonzero).toBeGreaterThan(params.length - 8 * 3);
    expect(grads[params.indexOf(m.lm_head.weight)]!.dataSync().some((v) => v !== 0)).toBe(true);
  });

  it('greedy generation with left padding matches the argmax of a full forward step by step', () => {
    const m = new DeepseekV3ForCausalLM(tiny(), { seed: 5 });
    const prompts = [[5, 9, 2, 33, 14, 7], [11], [4, 4, 20]];
    const { tokens, finishReasons } = m.generate(prompts, { maxNewTokens: 5, temperature: 0 });
    expect(finishReasons).toEqual(['length', 'length', 'length']);
    prompts.forEach((p, b) => {
      expect(tokens[b]!.length).toBe(5);
      const seq = [...p];
      for (const t of tokens[b]!) {
        const want = tidy(() => {
          const logits = m.forward(ids([seq]));
          return ops.argmax(ops.slice(logits, [0, seq.length - 1, 0], [1, 1, 40])).dataSync()[0]!;
        });
        expect(t).toBe(want);
        seq.push(t);
      }
    });
    // a row's tokens do not depend on the other rows of the batch
    expect(m.generate([prompts[1]!], { maxNewTokens: 5 }).tokens[0]).toEqual(tokens[1]);
  });

  it('sampling is deterministic for a seed; stop tokens and stop sequences end a row', () => {
    const m = new DeepseekV3ForCausalLM(tiny({ initializer_range: 0.05 }), { seed: 6 });
    const prompts = [[1, 2, 3], [7, 8]];
    const a = m.generate(prompts, { maxNewTokens: 8, temperature: 1, topP: 0.95, seed: 42 });
    const b = m.generate(prompts, { maxNewTokens: 8, temperature: 1, topP: 0.95, seed: 42 });
    expect(b).toEqual(a);
    const seeds = [1, 2, 3, 4].map((s) => JSON.stringify(m.generate(prompts, { maxNewTokens: 8, temperature: 1, seed: s }).tokens));
    expect(new Set([JSON.stringify(a.tokens), ...seeds]).size).toBeGreaterThan(1);
    const row = a.tokens[0]!;
    const stop = row[3]!;
    const s = m.generate(prompts, { maxNewTokens: 8, temperature: 1, topP: 0.95, seed: 42, stopTokens: [stop] });
    expect(s.tokens[0]).toEqual(row.slice(0, row.indexOf(stop)));
    expect(s.finishReasons[0]).toBe('stop');
    const seq = row.slice(2, 4);
    const q = m.generate(prompts, { maxNewTokens: 8, temperature: 1, topP: 0.95, seed: 42, stopSequences: [seq] });
    let end = -1;
    for (let i = 1; i < row.length && end < 0; i++) if (row[i - 1] === seq[0] && row[i] === seq[1]) end = i - 1;
    expect(q.tokens[0]).toEqual(row.slice(0, end));
    expect(q.finishReasons[0]).toBe('stop');
  });

  it('top-p keeps the smallest set of tokens reaching the mass', () => {
    const p = [0.05, 0.5, 0.3, 0.15];
    // nucleus for 0.7: {1, 2}; u spans it
    expect(sampleTopP(p, 0.7, 0)).toBe(1);
    expect(sampleTopP(p, 0.7, 0.99)).toBe(2);
    expect(sampleTopP(p, 0.7, 0.6)).toBe(1); // 0.6·0.8 = 0.48 < 0.5
    expect(sampleTopP(p, 1, 0.99)).toBe(3);
    expect(sampleTopP(p, 0.01, 0.99)).toBe(1);
  });

  it('does not leak tensors across forward, prefill and generate', () => {
    const m = new DeepseekV3ForCausalLM(tiny(), { seed: 7 });
    const backend = m.lm_head.weight.backend;
    const x = ids([[1, 2, 3]]);
    tidy(() => { m.forward(x, { recordMaxLogits: true }); });
    m.generate([[1, 2]], { maxNewTokens: 2 });
    const before = backend.memory().buffers;
    tidy(() => { m.forward(x, { recordMaxLogits: true }); });
    m.generate([[1, 2], [3]], { maxNewTokens: 3, temperature: 0.7, seed: 1 });
    expect(backend.memory().buffers).toBe(before);
  });
});
