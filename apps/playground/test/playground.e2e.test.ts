/**
 * The playground end to end in Debian's chromium (headless, WebGPU on SwiftShader): vite builds
 * the page, vite preview serves it on a free port, and Playwright clicks through it: start
 * training, watch the step counter and the SVG charts move, stop, generate text, save a
 * checkpoint and load it back through the file input. The page falls back to the cpu backend
 * when chromium offers no WebGPU adapter; the test accepts either and prints which one ran.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--use-angle=swiftshader', '--enable-features=Vulkan',
  '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI) throw new Error(`CI is set and ${CHROMIUM} is missing (.ci/run installs chromium)`);
  console.warn(`\n!! SKIPPING the playground e2e test: ${CHROMIUM} is missing (apt-get install chromium)\n`);
}

describe.skipIf(!haveChromium)('playground in chromium', () => {
  let server: PreviewServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let url: string;
  const consoleLines: string[] = [];

  beforeAll(async () => {
    await build({ root, logLevel: 'warn', configFile: join(root, 'vite.config.ts') });
    const port = await freePort();
    server = await preview({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'warn', preview: { host: '127.0.0.1', port, strictPort: true } });
    url = `http://127.0.0.1:${port}/`;
    profile = await mkdtemp(join(tmpdir(), 'karakoram-playground-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, acceptDownloads: true });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  }, 240_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('trains, draws, generates, saves and loads', async () => {
    await page.goto(url);
    await page.waitForSelector('#backend[data-ready="true"]', { timeout: 60_000 }).catch((e: Error) => {
      throw new Error(`the page did not start: ${e.message}\n${consoleLines.join('\n')}`);
    });
    const backend = (await page.textContent('#backend'))!.trim();
    const note = (await page.textContent('#backend-note'))?.trim();
    console.log(`playground backend in chromium: ${backend}${note ? ` ${note}` : ''}`);
    expect(['webgpu', 'cpu']).toContain(backend);

    const stepOf = async (): Promise<number> => Number(await page.textContent('#step'));
    const pathData = async (): Promise<string> => page.$$eval('#charts svg path', (ps) => ps.map((p) => p.getAttribute('d') ?? '').join('|'));
    const before = await pathData();

    await page.click('#start');
    await page.waitForFunction(() => Number(document.getElementById('step')!.textContent) >= 2, undefined, { timeout: 120_000 }).catch((e: Error) => {
      throw new Error(`training did not reach step 2: ${e.message}\nstatus: ${consoleLines.join('\n')}`);
    });
    const s1 = await stepOf();
    const d1 = await pathData();
    await page.waitForFunction((s) => Number(document.getElementById('step')!.textContent) >= s + 2, s1, { timeout: 120_000 });
    await page.click('#stop');
    await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, undefined, { timeout: 60_000 });
    const s2 = await stepOf();
    const d2 = await pathData();
    expect(s2).toBeGreaterThan(s1);
    expect(d1).not.toBe(before);
    expect(d2).not.toBe(d1);
    const loss = Number(await page.textContent('#loss'));
    expect(Number.isFinite(loss)).toBe(true);
    console.log(`playground: ${s2} steps on ${backend}, last loss ${loss}, ${await page.textContent('#status')}`);

    await page.fill('#gen-tokens', '12');
    await page.click('#generate');
    await page.waitForFunction(() => (document.getElementById('sample')!.textContent ?? '').length > 'Call me '.length, undefined, { timeout: 60_000 });
    console.log(`playground sample: ${JSON.stringify(await page.textContent('#sample'))}`);

    // Save: both download links appear; their bytes go back in through the file input.
    await page.click('#save');
    await page.waitForSelector('#download-weights:not([hidden])', { timeout: 60_000 });
    const files = await page.evaluate(async () => {
      const get = async (id: string) => Array.from(new Uint8Array(await (await fetch((document.getElementById(id) as HTMLAnchorElement).href)).arrayBuffer()));
      return { config: await get('download-config'), weights: await get('download-weights') };
    });
    const config = JSON.parse(Buffer.from(files.config).toString('utf8')) as Record<string, unknown>;
    expect(config.architectures).toEqual(['DeepseekV3ForCausalLM']);
    await page.setInputFiles('#load', [
      { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from(files.config) },
      { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(files.weights) },
    ]);
    await page.waitForFunction(() => /loaded a checkpoint|error/.test(document.getElementById('status')!.textContent ?? ''), undefined, { timeout: 60_000 });
    expect(await page.textContent('#status')).toMatch(/loaded a checkpoint/);
  }, 300_000);

  it('runs on the cpu backend (the fallback) too: ?backend=cpu', async () => {
    const cpu = await context.newPage();
    cpu.on('pageerror', (e) => consoleLines.push(`[pageerror cpu] ${e.message}`));
    await cpu.goto(`${url}?backend=cpu`);
    await cpu.waitForSelector('#backend[data-ready="true"]', { timeout: 60_000 });
    expect((await cpu.textContent('#backend'))!.trim()).toBe('cpu');
    await cpu.click('#start');
    await cpu.waitForFunction(() => Number(document.getElementById('step')!.textContent) >= 2, undefined, { timeout: 120_000 });
    await cpu.click('#stop');
    await cpu.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, undefined, { timeout: 60_000 });
    expect(await cpu.$$eval('#charts svg path', (ps) => ps.length)).toBeGreaterThan(0);
    await cpu.fill('#gen-tokens', '8');
    await cpu.click('#generate');
    await cpu.waitForFunction(() => (document.getElementById('sample')!.textContent ?? '').length > 'Call me '.length, undefined, { timeout: 60_000 });
    console.log(`playground on cpu in chromium: ${await cpu.textContent('#step')} steps, ${await cpu.textContent('#status')}; sample ${JSON.stringify(await cpu.textContent('#sample'))}`);
    await cpu.close();
  }, 240_000);
});
