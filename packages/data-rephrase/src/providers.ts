import { ByteTokenizer, type Tokenizer } from '@karakoram/model';
import { loadTokenizerDir } from '@karakoram/model/node';
import { OpenAICompatibleProvider, loadLocalProvider, type ChatProvider } from '@karakoram/llm';
import type { ProviderConfig, RephraseConfig } from './config.js';

export interface Providers {
  provider: ChatProvider;
  judge: ChatProvider;
  close(): void;
}

/** One provider from its config: an OpenAI-compatible endpoint or a checkpoint in this process. Shared with @karakoram/agentic. */
export async function buildProvider(p: ProviderConfig): Promise<{ provider: ChatProvider; close: () => void }> {
  if (p.kind === 'openai') {
    const { kind: _kind, ...opts } = p;
    return { provider: new OpenAICompatibleProvider(opts), close: () => undefined };
  }
  const loaded = await loadLocalProvider(p.model, { backend: p.backend, batchWaitMs: p.batchWaitMs });
  return { provider: loaded.provider, close: loaded.dispose };
}

/** The rewriting provider and the judge (the same instance unless `judge` is configured). */
export async function buildProviders(cfg: RephraseConfig): Promise<Providers> {
  const main = await buildProvider(cfg.provider);
  const judge = cfg.judge ? await buildProvider(cfg.judge) : main;
  return {
    provider: main.provider,
    judge: judge.provider,
    close: () => {
      main.close();
      if (judge !== main) judge.close();
    },
  };
}

export async function chunkTokenizer(spec: string): Promise<Tokenizer> {
  return spec === 'byte' ? new ByteTokenizer() : loadTokenizerDir(spec);
}
