/**
 * A provider for any OpenAI-compatible HTTP endpoint (OpenAI, vLLM, SGLang, Ollama, llama.cpp's
 * server, `karakoram serve`), on Node's global fetch.
 *
 * Every call of one instance shares a concurrency cap (a semaphore) and, when
 * `requestsPerMinute` is set, a token bucket. Each attempt has a timeout (an AbortController;
 * for streams it is an idle timeout, reset by every chunk). Network errors, timeouts, 408, 409,
 * 429, 5xx and malformed responses are retried with full-jitter exponential backoff, waiting at
 * least what Retry-After (or retry-after-ms) asks; other 4xx fail at once. A failure after the
 * last attempt is a ProviderError naming the URL, the attempts and the last status or error.
 */
import { KarakoramError } from '@karakoram/core';
import { ProviderError } from './errors.js';
import { Semaphore, TokenBucket, backoffMs, retryAfterMs, sleep } from './limits.js';
import { parseSSE } from './sse.js';
import type { ChatChunk, ChatProvider, ChatRequest, ChatResponse } from './types.js';

/** Settings of an OpenAI-compatible provider: endpoint, key, model, timeouts, retries and limits. */
export interface OpenAICompatibleOptions {
  /** e.g. http://127.0.0.1:8000/v1. Default: $OPENAI_BASE_URL, else https://api.openai.com/v1. */
  baseURL?: string;
  /** Default: $OPENAI_API_KEY (none sent when unset). */
  apiKey?: string;
  /** Default: $KARAKORAM_MODEL. */
  model?: string;
  /** Per attempt; for streams, the longest wait for the next chunk. Default 60 000. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number;
  /** Requests in flight at once. Default 8. */
  concurrency?: number;
  /** Token-bucket limit; unlimited when unset. */
  requestsPerMinute?: number;
  /** Backoff base and ceiling. Defaults 500 and 20 000 ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The longest Retry-After honoured. Default 60 000 ms. */
  maxRetryAfterMs?: number;
  headers?: Record<string, string>;
  /** Where the defaults are read from (default process.env). */
  env?: Record<string, string | undefined>;
}

/** One attempt's failure, before the retry decision. */
class AttemptError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly status?: number, readonly retryAfter?: number) {
    super(message);
  }
}

const RETRY_STATUS = (s: number): boolean => s === 408 || s === 409 || s === 429 || s >= 500;
const snippet = (s: string, n = 200): string => (s.length > n ? `${s.slice(0, n)}…` : s);

async function httpFailure(res: Response): Promise<AttemptError> {
  let detail = '';
  try {
    const text = await res.text();
    try {
      const j = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
      detail = typeof j.error === 'string' ? j.error : j.error?.message ?? j.message ?? snippet(text);
    } catch {
      detail = snippet(text);
    }
  } catch {
    /* body unreadable: the status says enough */
  }
  const msg = `status ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${detail ? `: ${detail}` : ''}`;
  return new AttemptError(msg, RETRY_STATUS(res.status), res.status, retryAfterMs(res.headers));
}

function networkFailure(e: unknown, timedOut: boolean, timeoutMs: number): AttemptError {
  if (e instanceof AttemptError) return e;
  if (timedOut) return new AttemptError(`timed out after ${timeoutMs} ms`, true);
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const cause = err.cause?.code ?? err.cause?.message;
  return new AttemptError(`network error: ${err.message ?? String(e)}${cause ? ` (${cause})` : ''}`, true);
}

function checkResponse(j: unknown): ChatResponse {
  const r = j as ChatResponse;
  if (!r || typeof r !== 'object' || !Array.isArray(r.choices) || r.choices.length === 0 || typeof r.choices[0]?.message !== 'object') {
    throw new AttemptError(`malformed response: expected {choices: [{message}]}, got ${snippet(JSON.stringify(j))}`, true);
  }
  r.usage ??= { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  return r;
}

export class OpenAICompatibleProvider implements ChatProvider {
  readonly baseURL: string;
  readonly model: string;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly sem: Semaphore;
  private readonly bucket: TokenBucket | undefined;
  private readonly backoffBase: number;
  private readonly backoffMax: number;
  private readonly maxRetryAfter: number;
  private readonly headers: Record<string, string>;

  constructor(opts: OpenAICompatibleOptions = {}) {
    const env = opts.env ?? process.env;
    this.baseURL = (opts.baseURL ?? env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
    this.apiKey = opts.apiKey ?? env.OPENAI_API_KEY;
    const model = opts.model ?? env.KARAKORAM_MODEL;
    if (!model) throw new KarakoramError('config', 'no model: pass `model` or set KARAKORAM_MODEL', 'OpenAICompatibleProvider');
    this.model = model;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.maxRetries = opts.maxRetries ?? 3;
    this.sem = new Semaphore(opts.concurrency ?? 8);
    this.bucket = opts.requestsPerMinute ? new TokenBucket(opts.requestsPerMinute) : undefined;
    this.backoffBase = opts.backoffBaseMs ?? 500;
    this.backoffMax = opts.backoffMaxMs ?? 20_000;
    this.maxRetryAfter = opts.maxRetryAfterMs ?? 60_000;
    this.headers = opts.headers ?? {};
  }

  private requestInit(req: ChatRequest, stream: boolean, signal: AbortSignal): RequestInit {
    const body: Record<string, unknown> = { ...req, model: req.model ?? this.model, stream };
    if (stream) body.stream_options = { include_usage: true };
    return {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json', ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}), ...this.headers },
      body: JSON.stringify(body),
      signal,
    };
  }

  /**
   * Runs `attempt` under the limits until it succeeds, fails for good, or the attempts run out.
   * With `hold`, the slot and the (idle) timer stay with the caller: it gets `release` and `touch`.
   */
  private async withRetries<T>(
    url: string,
    attempt: (signal: AbortSignal) => Promise<T>,
  ): Promise<{ value: T; release: () => void; touch: () => void; signal: AbortSignal }> {
    const attempts = this.maxRetries + 1;
    let last: AttemptError | undefined;
    for (let i = 0; i < attempts; i++) {
      if (this.bucket) await this.bucket.take();
      const releaseSlot = await this.sem.acquire();
      const ctl = new AbortController();
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      const touch = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          timedOut = true;
          ctl.abort(new Error(`timed out after ${this.timeoutMs} ms`));
        }, this.timeoutMs);
      };
      const release = (): void => {
        clearTimeout(timer);
        releaseSlot();
      };
      touch();
      try {
        const value = await attempt(ctl.signal);
        return { value, release, touch, signal: ctl.signal };
      } catch (e) {
        release();
        last = networkFailure(e, timedOut, this.timeoutMs);
      }
      if (!last.retryable) {
        throw new ProviderError(`provider at ${url} failed: ${last.message}`, { url, attempts: i + 1, status: last.status, retryable: false });
      }
      if (i < attempts - 1) {
        const wait = Math.max(backoffMs(i, this.backoffBase, this.backoffMax), Math.min(last.retryAfter ?? 0, this.maxRetryAfter));
        await sleep(wait);
      }
    }
    throw new ProviderError(`provider at ${url} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: last ${last!.message}`, {
      url, attempts, status: last!.status, retryable: true,
    });
  }

  /** Sends one chat completion request (with retries, rate limits and the concurrency cap) and returns the parsed response. */
  async chat(req: ChatRequest): Promise<ChatResponse> {
    const url = `${this.baseURL}/chat/completions`;
    const { value, release } = await this.withRetries(url, async (signal) => {
      const res = await fetch(url, this.requestInit(req, false, signal));
      if (!res.ok) throw await httpFailure(res);
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new AttemptError(`malformed JSON response: ${snippet(text) || '(empty body)'}`, true, res.status);
      }
      return checkResponse(json);
    });
    release();
    return value;
  }

  /** Streams chunks; retries happen only before the first chunk (a broken stream is an error). */
  async *chatStream(req: ChatRequest): AsyncGenerator<ChatChunk> {
    const url = `${this.baseURL}/chat/completions`;
    const { value: res, release, touch } = await this.withRetries(url, async (signal) => {
      const r = await fetch(url, this.requestInit(req, true, signal));
      if (!r.ok) throw await httpFailure(r);
      if (!r.body) throw new AttemptError('streaming response without a body', true, r.status);
      return r;
    });
    try {
      for await (const data of parseSSE(res.body as unknown as AsyncIterable<Uint8Array>)) {
        touch();
        if (data.trim() === '[DONE]') return;
        let chunk: ChatChunk;
        try {
          chunk = JSON.parse(data) as ChatChunk;
        } catch {
          throw new ProviderError(`provider at ${url} sent a malformed stream chunk: ${snippet(data)}`, { url, attempts: 1, status: res.status, retryable: false });
        }
        if ((chunk as unknown as { error?: { message?: string } }).error) {
          const m = (chunk as unknown as { error: { message?: string } }).error.message;
          throw new ProviderError(`provider at ${url} failed mid-stream: ${m ?? 'error'}`, { url, attempts: 1, status: res.status, retryable: false });
        }
        yield chunk;
      }
    } catch (e) {
      if (e instanceof ProviderError) throw e;
      throw new ProviderError(`provider at ${url} failed mid-stream: ${(e as Error).message}`, { url, attempts: 1, retryable: false });
    } finally {
      release();
    }
  }
}
