import { setBackend, type Module } from '@karakoram/core';
import { CpuBackend } from '@karakoram/backend-cpu';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';

export const backend = new CpuBackend();
setBackend(backend);

/** The tiny preset (MLA + MoE) with a byte-tokenizer vocabulary. */
export function tinyModel(seed = 1, vocab = 261): DeepseekV3ForCausalLM {
  return new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: vocab, num_hidden_layers: 2 }), { seed });
}

/** Every state tensor's bits, by name. */
export function bitsOf(m: Module): Map<string, Uint32Array> {
  return new Map([...m.stateDict()].map(([n, t]) => [n, new Uint32Array(Float32Array.from(t.dataSync()).buffer)]));
}

export function sameBits(a: Map<string, Uint32Array>, b: Map<string, Uint32Array>): string[] {
  const bad: string[] = [];
  for (const [n, x] of a) {
    const y = b.get(n);
    if (!y || y.length !== x.length || x.some((v, i) => v !== y[i])) bad.push(n);
  }
  if (a.size !== b.size) bad.push(`size ${a.size} vs ${b.size}`);
  return bad;
}
