import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalModelProvider, OpenAICompatibleProvider, collectStream, startServer, type RunningServer } from '../src/index.js';
import { tinyCheckpoint } from './tiny.js';

/** `startServer` on a real tiny checkpoint, over real HTTP on localhost. */
let dir: string;
let server: RunningServer;
let small: RunningServer;

beforeAll(async () => {
  dir = await tinyCheckpoint();
  server = await startServer({ model: dir, port: 0, batchWaitMs: 20 });
  small = await startServer({ provider: server.provider, port: 0, maxBodyBytes: 2048 });
});
afterAll(async () => {
  await small?.close();
  await server?.close();
  await rm(dirname(dir), { recursive: true, force: true });
});

const post = (body: string | object, url = server.url): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

const hello = { model: 'tiny-chat', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8 };

describe('karakoram serve: the OpenAI-compatible server', () => {
  it('answers /health and /v1/models', async () => {
    expect(await (await fetch(`${server.url}/health`)).json()).toMatchObject({ status: 'ok' });
    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { object: string; data: { id: string }[] };
    expect(models.object).toBe('list');
    expect(models.data.map((m) => m.id)).toEqual(['tiny-chat']);
  });

  it('completes a chat with usage', async () => {
    const res = await post(hello);
    expect(res.status).toBe(200);
    const j = (await res.json()) as { object: string; model: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
    expect(j.object).toBe('chat.completion');
    expect(j.model).toBe('tiny-chat');
    expect(j.choices[0]!.message.role).toBe('assistant');
    expect(typeof j.choices[0]!.message.content).toBe('string');
    expect(['stop', 'length']).toContain(j.choices[0]!.finish_reason);
    expect(j.usage.prompt_tokens).toBeGreaterThan(10);
    expect(j.usage.completion_tokens).toBeLessThanOrEqual(8);
    expect(j.usage.total_tokens).toBe(j.usage.prompt_tokens + j.usage.completion_tokens);
  });

  it('streams SSE chunks ending in [DONE], with the same text as the non-streaming reply (greedy)', async () => {
    const res = await post({ ...hello, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const raw = await res.text();
    const events = raw.split('\n\n').filter(Boolean);
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events[events.length - 1]).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)) as { object: string; choices: { delta: { content?: string }; finish_reason: string | null }[]; usage?: unknown });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const last = chunks[chunks.length - 1]!;
    expect(last.choices[0]!.finish_reason).not.toBeNull();
    expect(last.usage).toBeTruthy();
    const streamed = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const whole = (await (await post(hello)).json()) as { choices: { message: { content: string } }[] };
    expect(streamed).toBe(whole.choices[0]!.message.content);
  });

  it('is reachable through OpenAICompatibleProvider, streaming and not', async () => {
    const p = new OpenAICompatibleProvider({ baseURL: `${server.url}/v1`, model: 'tiny-chat', apiKey: 'unused', maxRetries: 0 });
    const a = await p.chat({ messages: [{ role: 'user', content: 'Hi there' }], max_tokens: 6 });
    const b = await collectStream(p.chatStream({ messages: [{ role: 'user', content: 'Hi there' }], max_tokens: 6 }));
    expect(b.choices[0]!.message.content).toBe(a.choices[0]!.message.content);
    expect(b.usage.completion_tokens).toBe(a.usage.completion_tokens);
  });

  it('accepts tools and a tool-call history', async () => {
    const res = await post({
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21}' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      max_tokens: 4,
    });
    expect(res.status).toBe(200);
    const j = (await res.json()) as { choices: { finish_reason: string }[] };
    expect(['stop', 'length', 'tool_calls']).toContain(j.choices[0]!.finish_reason);
  });

  const expectError = async (res: Response, status: number, param: string | null, code?: string): Promise<void> => {
    expect(res.status).toBe(status);
    const j = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
    expect(typeof j.error.message).toBe('string');
    expect(j.error.message.length).toBeGreaterThan(5);
    expect(j.error.type).toBe('invalid_request_error');
    expect(j.error.param).toBe(param);
    if (code) expect(j.error.code).toBe(code);
  };

  it('answers malformed requests with OpenAI-style 4xx errors', async () => {
    await expectError(await post('{"messages": [ oops'), 400, null, 'invalid_json');
    await expectError(await post({ model: 'tiny-chat' }), 400, 'messages', 'missing_required_parameter');
    await expectError(await post({ messages: [] }), 400, 'messages');
    await expectError(await post({ messages: 'hi' }), 400, 'messages');
    await expectError(await post({ messages: [{ role: 'wizard', content: 'x' }] }), 400, 'messages.0.role');
    await expectError(await post({ ...hello, temperature: 'hot' }), 400, 'temperature');
    await expectError(await post({ ...hello, max_tokens: -1 }), 400, 'max_tokens');
    await expectError(await post([1, 2]), 400, null);
    await expectError(await post({ ...hello, model: 'gpt-9' }), 404, 'model', 'model_not_found');
    await expectError(await post({ messages: [{ role: 'user', content: 'x'.repeat(1500) }] }), 400, 'messages', 'context_length_exceeded');
    await expectError(await post({ messages: [{ role: 'user', content: 'x'.repeat(4000) }] }, small.url), 413, null, 'request_too_large');
    await expectError(await fetch(`${server.url}/v2/nothing`), 404, null, 'not_found');
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  it('answers 32 concurrent requests, batching them, and stays healthy', async () => {
    const provider = server.provider as LocalModelProvider;
    const before = provider.batchSizes.length;
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, i) => post({ messages: [{ role: 'user', content: `Request number ${i}` }], max_tokens: 4 + (i % 3), stream: i % 4 === 0 })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(32).fill(200));
    await Promise.all(results.map((r) => r.text()));
    const sizes = provider.batchSizes.slice(before);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(32);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await post(hello)).status).toBe(200);
  });
});
