import { startServer } from '@karakoram/llm';
import { runtimeFor } from './model-io.js';

/** `karakoram serve`: an OpenAI-compatible server for a checkpoint, until SIGINT/SIGTERM. */
export async function serveCommand(
  opts: { model: string; port: number; host: string; maxBody: number; batchWaitMs: number; modelName?: string; backend?: string },
  out: (s: string) => void,
  log: (s: string) => void,
): Promise<void> {
  const rt = await runtimeFor(opts.backend);
  log(`backend: ${rt.backend.describe()}`);
  const server = await startServer({ model: opts.model, port: opts.port, host: opts.host, maxBodyBytes: opts.maxBody, batchWaitMs: opts.batchWaitMs, modelName: opts.modelName });
  out(`serving ${server.provider.model} at ${server.url}/v1 (POST /v1/chat/completions, GET /v1/models, GET /health)`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
