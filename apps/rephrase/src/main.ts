/**
 * The rephrasing pipeline over a small corpus (data/corpus.jsonl), through an OpenAI-compatible
 * server:
 *
 *   pnpm --filter @karakoram/app-rephrase start                      # a tiny random model served here
 *   pnpm --filter @karakoram/app-rephrase start -- --base-url http://127.0.0.1:8000/v1 --model NAME
 *
 * Without --base-url, a tiny untrained checkpoint is created and served with `startServer` (what
 * `karakoram serve` runs), so the rewrites are gibberish and verification is recorded, not
 * enforced: the point is the real path (HTTP, chunking, templates, judge, resumable output).
 * With a real endpoint (vLLM, Ollama, llama.cpp, a hosted API) the same config gives real
 * rephrasings and an enforced LLM judge.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { register } from '@karakoram/backend-cpu';
import { createRuntime } from '@karakoram/core';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { saveCheckpoint } from '@karakoram/model/node';
import { startServer, type RunningServer } from '@karakoram/llm';
import { parseRephraseConfig, runRephrase, type RephraseRecord } from '@karakoram/data-rephrase';

export const CORPUS = fileURLToPath(new URL('../data/corpus.jsonl', import.meta.url));

export async function example(o: { out: string; baseURL?: string; model?: string; apiKey?: string; log?: (s: string) => void; /** Cheap checks instead of the LLM judge, no progress bar (tests). */ quick?: boolean }): Promise<{ records: RephraseRecord[]; summary: Awaited<ReturnType<typeof runRephrase>> }> {
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  let server: RunningServer | undefined;
  let baseURL = o.baseURL;
  let model = o.model;
  const real = Boolean(baseURL);
  if (!baseURL) {
    register();
    await createRuntime({ backend: 'cpu' });
    const dir = join(o.out, 'tiny-model');
    const m = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: 261, max_position_embeddings: 2048 } as never), { seed: 3 });
    await saveCheckpoint(dir, m.config, m.stateDict(), { dtype: 'F32' });
    m.dispose();
    server = await startServer({ model: dir, port: 0, modelName: 'tiny-random' });
    baseURL = `${server.url}/v1`;
    model = 'tiny-random';
    log(`no --base-url: serving an untrained tiny model at ${baseURL} (its text is gibberish)`);
  }
  try {
    const cfg = parseRephraseConfig({
      input: CORPUS,
      output: join(o.out, 'rephrased.jsonl'),
      provider: { kind: 'openai', baseURL, model, apiKey: o.apiKey ?? process.env.OPENAI_API_KEY ?? 'none', maxRetries: 3, concurrency: 4 },
      rephrasings: o.quick ? 1 : 2,
      translate: 'auto',
      chunkTokens: real ? 256 : 96,
      contextTokens: real ? 512 : 48,
      sampling: real ? { temperature: 0.7, maxTokens: 512 } : { temperature: 0, maxTokens: o.quick ? 12 : 24 },
      verify: real ? { judge: 'llm', enforce: true } : { judge: o.quick ? 'checks' : 'llm', enforce: false, judgeMaxTokens: 16 },
      concurrency: 4,
      progress: !o.quick,
    });
    const summary = await runRephrase(cfg, { log });
    const records = (await readFile(cfg.output, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as RephraseRecord);
    return { records, summary };
  } finally {
    await server?.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'runs/rephrase-example' }, 'base-url': { type: 'string' }, model: { type: 'string' } } });
  example({ out: values.out!, baseURL: values['base-url'], model: values.model ?? process.env.KARAKORAM_MODEL }).then(
    ({ records, summary }) => {
      for (const r of records.slice(0, 4)) process.stdout.write(`\n[${r.id}] template=${r.template} chunks=${r.chunk_count} verdict=${r.verdict}\n${r.text.slice(0, 300)}\n`);
      process.stdout.write(`\n${summary.written} rephrasing(s) written, ${summary.skipped} already done, ${summary.dropped} dropped → ${summary.output}\n`);
    },
    (e: unknown) => {
      process.stderr.write(`example failed: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
