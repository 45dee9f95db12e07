import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MicroBatcher, OpenAICompatibleProvider, ProviderError, Semaphore, TokenBucket, backoffMs, chatMLTemplate, collectStream, parseSSE, parseToolCalls, retryAfterMs } from '../src/index.js';

/** OpenAICompatibleProvider against small real HTTP servers that fail in chosen ways. */
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => (s.close(r), s.closeAllConnections()))));
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<{ url: string; hits: () => number }> {
  let n = 0;
  const s = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res, ++n));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`, hits: () => n };
}

const ok = (content: string) => ({
  id: 'x', object: 'chat.completion', created: 0, model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
});
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};
const fast = { model: 'm', backoffBaseMs: 10, backoffMaxMs: 40 };
const msg = { messages: [{ role: 'user' as const, content: 'hi' }] };

describe('OpenAICompatibleProvider', () => {
  it('fails clearly on an unreachable provider after the configured retries', async () => {
    const { url } = await serve(() => undefined);
    await new Promise((r) => servers.pop()!.close(r)); // the port is now closed
    const p = new OpenAICompatibleProvider({ ...fast, baseURL: url, maxRetries: 2 });
    const err = (await p.chat(msg).catch((e) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.attempts).toBe(3);
    expect(err.message).toMatch(new RegExp(`provider at ${url}/chat/completions failed after 3 attempts: last network error: .*ECONNREFUSED`));
  });

  it('retries 503 and gives up with the last status', async () => {
    const s = await serve((_q, res) => json(res, 503, { error: { message: 'overloaded' } }));
    const p = new OpenAICompatibleProvider({ ...fast, baseURL: s.url, maxRetries: 3 });
    const err = (await p.chat(msg).catch((e) => e)) as ProviderError;
    expect(s.hits()).toBe(4);
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/failed after 4 attempts: last status 503 Service Unavailable: overloaded/);
  });

  it('retries malformed JSON and names it', async () => {
    const s = await serve((_q, res) => json(res, 200, '{"choices": [ not json'));
    const p = new OpenAICompatibleProvider({ ...fast, baseURL: s.url, maxRetries: 1 });
    await expect(p.chat(msg)).rejects.toThrow(/failed after 2 attempts: last malformed JSON response: \{"choices": \[ not json/);
    expect(s.hits()).toBe(2);
    const s2 = await serve((_q, res) => json(res, 200, { nothing: true }));
    await expect(new OpenAICompatibleProvider({ ...fast, baseURL: s2.url, maxRetries: 0 }).chat(msg)).rejects.toThrow(/failed after 1 attempt: last malformed response: expected \{choices/);
  });

  it('does not retry a 400', async () => {
    const s = await serve((_q, res) => json(res, 400, { error: { message: 'bad field' } }));
    const p = new OpenAICompatibleProvider({ ...fast, baseURL: s.url, maxRetries: 3 });
    const err = (await p.chat(msg).catch((e) => e)) as ProviderError;
    expect(s.hits()).toBe(1);
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/failed: status 400 Bad Request: bad field/);
  });

  it('recovers after transient failures and honours Retry-After', async () => {
    const s = await serve((_q, res, n) => (n === 1 ? json(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '1' }) : n === 2 ? res.destroy() : json(res, 200, ok('fine'))));
    const p = new OpenAICompatibleProvider({ ...fast, baseURL: s.url, maxRetries: 3 });
    const t0 = Date.now();
    const r = await p.chat(msg);
    expect(r.choices[0]!.message.content).toBe('fine');
    expect(s.hits()).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('times out a silent server', async () => {
    const s = await serve(() => undefined);
    const p = new OpenAICompatibleProvider({ ...fast, baseURL: s.url, maxRetries: 1, timeoutMs: 150 });
    await expect(p.chat(msg)).rejects.toThrow(/failed after 2 attempts: last timed out after 150 ms/);
  });

  it('caps concurrency and rate per instance', async () => {
    let inFlight = 0;
    let peak = 0;
    const s = await serve((_q, res) => {
      peak = Math.max(peak, ++inFlight);
      setTimeout(() => {
        inFlight--;
        json(res, 200, ok('x'));
      }, 60);
    });
    const p = new OpenAICompatibleProvider({ ...fast, baseURL: s.url, concurrency: 2 });
    await Promise.all(Array.from({ length: 6 }, () => p.chat(msg)));
    expect(peak).toBe(2);
    const limited = new OpenAICompatibleProvider({ ...fast, baseURL: s.url, concurrency: 8, requestsPerMinute: 120 }); // 2/s, burst 2
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 4 }, () => limited.chat(msg)));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('parses an SSE stream and its usage', async () => {
    const s = await serve((_q, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const c = (delta: object, finish: string | null, usage?: object) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }], usage })}\r\n\r\n`;
      res.write(': keep-alive\n\n' + c({ role: 'assistant', content: '' }, null));
      res.write(c({ content: 'Hel' }, null).slice(0, 20));
      setTimeout(() => {
        res.write(c({ content: 'Hel' }, null).slice(20) + c({ content: 'lo' }, null));
        res.end(c({}, 'stop', { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 }) + 'data: [DONE]\n\n');
      }, 20);
    });
    const p = new OpenAICompatibleProvider({ ...fast, baseURL: s.url });
    const r = await collectStream(p.chatStream(msg));
    expect(r.choices[0]!.message.content).toBe('Hello');
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.usage.total_tokens).toBe(4);
  });

  it('reads its defaults from the environment', () => {
    const p = new OpenAICompatibleProvider({ env: { OPENAI_BASE_URL: 'http://h:1/v1/', KARAKORAM_MODEL: 'k2' } });
    expect(p.baseURL).toBe('http://h:1/v1');
    expect(p.model).toBe('k2');
    expect(() => new OpenAICompatibleProvider({ env: {} })).toThrow(/KARAKORAM_MODEL/);
  });
});

describe('limits, SSE, tool calls, batching', () => {
  it('computes backoff and Retry-After', () => {
    expect(backoffMs(0, 100, 1000, () => 0)).toBe(50);
    expect(backoffMs(10, 100, 1000, () => 1)).toBe(1000);
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }))).toBe(2000);
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '150' }))).toBe(150);
    expect(retryAfterMs(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4_000)).toBe(6_000);
    expect(retryAfterMs(new Headers())).toBeUndefined();
  });

  it('semaphore and token bucket', async () => {
    const sem = new Semaphore(2);
    const a = await sem.acquire();
    await sem.acquire();
    let got = false;
    const c = sem.acquire().then(() => (got = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(got).toBe(false);
    a();
    await c;
    expect(sem.inUse).toBe(2);
    const b = new TokenBucket(6000, 1); // 100/s
    const t0 = Date.now();
    for (let i = 0; i < 6; i++) await b.take();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
  });

  it('splits SSE across byte boundaries', async () => {
    const enc = new TextEncoder();
    async function* bytes() {
      for (const part of ['data: a\r', '\ndata: b\n\n: c\n\nda', 'ta: {"x":1}\n\n', 'data: [DONE]']) yield enc.encode(part);
    }
    const out: string[] = [];
    for await (const d of parseSSE(bytes())) out.push(d);
    expect(out).toEqual(['a\nb', '{"x":1}', '[DONE]']);
  });

  it('parses tool calls in both conventions, leaving other text as content', () => {
    expect(parseToolCalls('Let me check. <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>')).toEqual({
      content: 'Let me check.', calls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }],
    });
    expect(parseToolCalls('<tool_call>{"name": "a", "arguments": "{}"}</tool_call><tool_call>{"name": "b"}').calls).toEqual([{ name: 'a', arguments: '{}' }, { name: 'b', arguments: '{}' }]);
    expect(parseToolCalls('x {"tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"q": "}"}}}]} y')).toEqual({ content: 'x  y', calls: [{ name: 'f', arguments: '{"q":"}"}' }] });
    expect(parseToolCalls('<tool_call>not json</tool_call>')).toEqual({ content: '<tool_call>not json</tool_call>', calls: [] });
    expect(parseToolCalls('plain {"a": 1}').calls).toEqual([]);
  });

  it('renders the chat template with tools', () => {
    const s = chatMLTemplate.render(
      [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: null, tool_calls: [{ id: '1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, { role: 'tool', content: '42', tool_call_id: '1' }],
      [{ type: 'function', function: { name: 'f', description: 'd' } }],
    );
    expect(s).toMatch(/^<\|im_start\|>system\n\s*You can call these tools:\n\{"name":"f"/);
    expect(s).toContain('<|im_start|>assistant\n<tool_call>{"name":"f","arguments":{"a":1}}</tool_call><|im_end|>\n<|im_start|>tool\n42<|im_end|>\n');
    expect(s.endsWith('<|im_start|>assistant\n')).toBe(true);
  });

  it('micro-batches by compatibility key', async () => {
    const calls: number[][] = [];
    const b = new MicroBatcher<number, number>({ waitMs: 10, maxBatch: 3, key: (x) => String(x % 2), run: (xs) => (calls.push(xs), xs.map((x) => x * 10)) });
    const r = await Promise.all([1, 2, 3, 4, 5, 7, 9].map((x) => b.submit(x)));
    expect(r).toEqual([10, 20, 30, 40, 50, 70, 90]);
    expect(calls).toEqual([[1, 3, 5], [7, 9], [2, 4]]);
  });
});
