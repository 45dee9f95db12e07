/**
 * `startServer`: an OpenAI-compatible HTTP server (fastify 5) for a checkpoint directory or any
 * ChatProvider.
 *
 *   POST /v1/chat/completions  non-streaming, or `stream: true` as SSE (`data: {chunk}` …
 *                              `data: [DONE]`); tools → tool_calls when the model emits them; usage
 *   GET  /v1/models            the one served model
 *   GET  /health               {"status": "ok"}
 *
 * Every failure is an OpenAI-style JSON error {error: {message, type, param, code}}: invalid JSON
 * and bad fields → 400 (param names the field), unknown model → 404, body over `maxBodyBytes` →
 * 413, a prompt longer than the context → 400 context_length_exceeded, unknown route → 404.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { KarakoramError } from '@karakoram/core';
import { ContextLengthError } from '../local.js';
import { loadLocalProvider } from '../local-dir.js';
import type { ChatChunk, ChatProvider } from '../types.js';
import { HttpError } from './errors.js';
import { parseChatBody } from './schema.js';

export { HttpError, type OpenAIErrorBody } from './errors.js';
export { ChatCompletionBody, parseChatBody } from './schema.js';

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** A checkpoint directory to load (with its tokenizer) … */
  model?: string;
  /** … or a provider to serve. */
  provider?: ChatProvider;
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Largest request body. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Micro-batching window for a loaded model. Default 5 ms. */
  batchWaitMs?: number;
  /** The served model name (default: the checkpoint directory's name). */
  modelName?: string;
  /** Creates this backend's runtime before loading `model` (default: the current backend). */
  backend?: string;
}

/** A started server. */
export interface RunningServer {
  /** e.g. http://127.0.0.1:41234 (the API is under /v1). */
  url: string;
  provider: ChatProvider;
  app: FastifyInstance;
  /** Stops the server (and frees the model it loaded). */
  close(): Promise<void>;
}

function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof ContextLengthError) return new HttpError(400, e.message, 'invalid_request_error', 'messages', 'context_length_exceeded');
  if (e instanceof KarakoramError && e.code === 'model_not_found') return new HttpError(404, e.message, 'invalid_request_error', 'model', 'model_not_found');
  const fe = e as FastifyError;
  if (fe?.statusCode === 413) return new HttpError(413, `request body too large: ${fe.message}`, 'invalid_request_error', null, 'request_too_large');
  if (fe?.statusCode === 415) return new HttpError(415, fe.message, 'invalid_request_error', null, 'unsupported_media_type');
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    const json = /JSON/i.test(fe.code ?? '') || e instanceof SyntaxError;
    return new HttpError(fe.statusCode, json ? `we could not parse the JSON body of your request: ${fe.message}` : fe.message, 'invalid_request_error', null, json ? 'invalid_json' : null);
  }
  return new HttpError(500, `internal error: ${(e as Error)?.message ?? String(e)}`, 'server_error', null, 'internal_error');
}

/** Starts an OpenAI-compatible HTTP server (/v1) for a provider, or for a checkpoint it loads. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  let provider = opts.provider;
  let dispose: (() => void) | undefined;
  if (!provider) {
    if (!opts.model) throw new KarakoramError('args', 'startServer needs `model` (a checkpoint directory) or `provider`');
    const loaded = await loadLocalProvider(opts.model, { batchWaitMs: opts.batchWaitMs, modelName: opts.modelName, backend: opts.backend });
    provider = loaded.provider;
    dispose = loaded.dispose;
  }
  const p = provider;
  const created = Math.floor(Date.now() / 1000);
  const app = Fastify({ bodyLimit: opts.maxBodyBytes ?? 1 << 20, logger: false });

  app.setErrorHandler((err, _req, reply) => {
    const h = toHttpError(err);
    void reply.status(h.status).send(h.body());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(new HttpError(404, `no route ${req.method} ${req.url}`, 'invalid_request_error', null, 'not_found').body());
  });

  app.get('/health', async () => ({ status: 'ok', model: p.model }));
  const modelCard = { id: p.model, object: 'model', created, owned_by: 'karakoram' };
  app.get('/v1/models', async () => ({ object: 'list', data: [modelCard] }));
  app.get<{ Params: { id: string } }>('/v1/models/:id', async (req) => {
    if (req.params.id !== p.model) throw new HttpError(404, `The model '${req.params.id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
    return modelCard;
  });

  app.post('/v1/chat/completions', async (req, reply) => {
    const { stream, ...chat } = parseChatBody(req.body);
    if (chat.model !== undefined && chat.model !== p.model) {
      throw new HttpError(404, `The model '${chat.model}' does not exist (this server serves '${p.model}')`, 'invalid_request_error', 'model', 'model_not_found');
    }
    if (!stream) return p.chat(chat);
    // Produce the first chunk before committing to a 200 stream, so early failures are JSON errors.
    const it = p.chatStream(chat)[Symbol.asyncIterator]();
    let first: IteratorResult<ChatChunk>;
    try {
      first = await it.next();
    } catch (e) {
      throw toHttpError(e);
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (data: string): void => {
      if (!raw.destroyed) raw.write(`data: ${data}\n\n`);
    };
    try {
      for (let r = first; !r.done; r = await it.next()) {
        if (raw.destroyed) break;
        send(JSON.stringify(r.value));
      }
      send('[DONE]');
    } catch (e) {
      send(JSON.stringify(toHttpError(e).body()));
    } finally {
      raw.end();
    }
  });

  await app.listen({ port: opts.port ?? 0, host: opts.host ?? '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    provider: p,
    app,
    close: async () => {
      await app.close();
      dispose?.();
    },
  };
}

