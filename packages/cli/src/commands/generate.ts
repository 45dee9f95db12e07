import { loadModel, runtimeFor, tokenizerFor } from './model-io.js';

export async function generateCommand(
  opts: { model: string; prompt: string[]; maxNewTokens: number; temperature: number; topP: number; seed: number; backend?: string; stop?: string[] },
  out: (s: string) => void,
  log: (s: string) => void,
): Promise<void> {
  const rt = await runtimeFor(opts.backend);
  log(`backend: ${rt.backend.describe()}`);
  const model = await loadModel(opts.model);
  const tok = await tokenizerFor(opts.model);
  const prompts = opts.prompt.map((p) => tok.encode(p));
  const t0 = performance.now();
  // generateAsync reads each step's logits with await: needed on webgpu, the same tokens elsewhere.
  const r = await model.generateAsync(prompts, {
    maxNewTokens: opts.maxNewTokens, temperature: opts.temperature, topP: opts.topP, seed: opts.seed,
    stopTokens: tok.eosId !== undefined ? [tok.eosId] : [],
    stopSequences: (opts.stop ?? []).map((s) => tok.encode(s)),
  });
  const secs = (performance.now() - t0) / 1000;
  const n = r.tokens.reduce((a, t) => a + t.length, 0);
  r.tokens.forEach((t, i) => out(opts.prompt[i] + tok.decode(t)));
  log(`${n} tokens in ${secs.toFixed(2)} s (${(n / secs).toFixed(1)} tokens/s), finish: ${r.finishReasons.join(', ')}`);
  model.dispose();
}
