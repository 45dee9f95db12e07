import { ByteTokenizer, type Tokenizer } from '@karakoram/model';
import { loadTokenizerDir } from '@karakoram/model/node';
import { OpenAICompatibleProvider, loadLocalProvider, type ChatProvider } from '@karakoram/llm';
import type { ProviderConfig, RephraseConfig } from './config.js';

/** The rewriting provider and the judge provider of a run (the same one when the judge has no config of its own). */
export interface Providers {
  provider: ChatProvider;
  judge: ChatProvider;
  /** Releases the providers (frees local models). */
  close(): void;
}

/** One provider from its config: an OpenAI-compatible endpoint or a checkpoint in this process. Shared with @karakoram/agentic. */
export async function buildProvider(p: ProviderConfig): Promise<{ provider: ChatProvider;
  /** Frees what the provider holds (a local model's tensors). */
  close: () => void }> {
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

/** The tokenizer that counts chunk tokens: "byte", or a tokenizer directory. */
export async function chunkTokenizer(spec: string): Promise<Tokenizer> {
  return spec === 'byte' ? new ByteTokenizer() : loadTokenizerDir(spec);
}
