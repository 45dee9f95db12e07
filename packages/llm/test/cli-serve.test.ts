import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyCheckpoint } from './tiny.js';

/** `karakoram serve` as a user runs it: the CLI (from source, through tsx) in a child process. */
let dir: string;
beforeAll(async () => {
  dir = await tinyCheckpoint();
});
afterAll(async () => {
  await rm(dirname(dir), { recursive: true, force: true });
});

describe('karakoram serve', () => {
  it('serves a checkpoint until SIGTERM', async () => {
    const bin = join(__dirname, '../../cli/src/bin.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', bin, 'serve', '--model', dir, '--port', '0', '--batch-wait-ms', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const t0 = Date.now();
    while (!/serving .* at (http:\/\/\S+)\/v1/.test(out)) {
      if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`serve did not start: ${out}${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /at (http:\/\/\S+)\/v1/.exec(out)![1]!;
    expect(out).toContain('serving tiny-chat at');
    expect(await (await fetch(`${url}/health`)).json()).toMatchObject({ status: 'ok', model: 'tiny-chat' });
    const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }) });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBeLessThanOrEqual(3);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);
});
