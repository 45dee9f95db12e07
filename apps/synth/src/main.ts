/**
 * The synthesis pipeline end to end, through an OpenAI-compatible server:
 *
 *   pnpm --filter @karakoram/app-synth start                      # a tiny random model served here
 *   pnpm --filter @karakoram/app-synth start -- --base-url http://127.0.0.1:8000/v1 --model NAME
 *
 * It loads synth.config.json (the reference MCP memory server over stdio, synthetic travel and
 * retail tools, three agents), points every LLM role at the endpoint and runs `karakoram synth`'s
 * pipeline. Without --base-url, a tiny untrained checkpoint is served with `startServer` (what
 * `karakoram serve` runs): its text is gibberish, so the config turns on the documented bootstrap
 * modes (forceToolCalls, judge.onUnparsable "rules"); with a real endpoint, turn them off.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { register } from '@karakoram/backend-cpu';
import { createRuntime } from '@karakoram/core';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { saveCheckpoint } from '@karakoram/model/node';
import { startServer, type RunningServer } from '@karakoram/llm';
import { loadSynthConfig, runSynth, type SynthSummary } from '@karakoram/agentic';

export const CONFIG = fileURLToPath(new URL('../synth.config.json', import.meta.url));

export async function example(o: { out?: string; baseURL?: string; model?: string; log?: (s: string) => void }): Promise<SynthSummary> {
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  let cfg = await loadSynthConfig(CONFIG);
  const out = o.out ? resolve(o.out) : cfg.out;
  let server: RunningServer | undefined;
  let baseURL = o.baseURL;
  let model = o.model;
  if (!baseURL) {
    register();
    await createRuntime({ backend: 'cpu' });
    const dir = join(out, 'tiny-model');
    const m = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: 261, max_position_embeddings: 8192 } as never), { seed: 3 });
    await saveCheckpoint(dir, m.config, m.stateDict(), { dtype: 'F32' });
    m.dispose();
    server = await startServer({ model: dir, port: 0, modelName: 'tiny-random' });
    baseURL = `${server.url}/v1`;
    model = 'tiny-random';
    log(`no --base-url: serving an untrained tiny model at ${baseURL} (its text is gibberish; bootstrap modes on)`);
  }
  const d = cfg.providers.default;
  cfg = {
    ...cfg,
    out,
    providers: { default: d.kind === 'openai' ? { ...d, baseURL, model: model ?? d.model } : d },
    mcp: { ...cfg.mcp, servers: cfg.mcp.servers.map((s) => (s.transport === 'stdio' ? { ...s, command: process.execPath, env: { ...s.env, MEMORY_FILE_PATH: join(out, 'memory.jsonl') } } : s)) },
  };
  try {
    return await runSynth(cfg, { log });
  } finally {
    await server?.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const { values } = parseArgs({ options: { 'base-url': { type: 'string' }, model: { type: 'string' }, out: { type: 'string' } } });
  const s = await example({ baseURL: values['base-url'], model: values.model, out: values.out });
  console.log(JSON.stringify({ stages: s.stages, stats: s.stats && { exported: s.stats.exported, passRate: s.stats.passRate, byDomain: s.stats.byDomain } }, null, 2));
}
