/**
 * Whether the WebGPU tests can run here. The rule: with no adapter, the tests FAIL when
 * process.env.CI is set (CI installs chromium and libvulkan1, so a missing adapter is a broken
 * setup), and on a developer machine they are skipped with a loud message.
 */
import { describe, it } from 'vitest';
import { createWebGpuBackend } from '../src/index.js';

async function probe(): Promise<string | undefined> {
  try {
    const b = await createWebGpuBackend({ autotune: false });
    await b.destroy();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export const noAdapter = await probe();

/** Registers `body` when an adapter exists; otherwise a failing test (CI) or a loud skip. */
export function withAdapter(name: string, body: () => void): void {
  if (!noAdapter) {
    body();
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      it('needs a WebGPU adapter (CI must provide one)', () => {
        throw new Error(`CI is set and there is no WebGPU adapter: ${noAdapter}`);
      });
    });
    return;
  }
  const bar = '!'.repeat(100);
  console.warn(`\n${bar}\n!! SKIPPING the WebGPU tests (${name}): ${noAdapter}\n${bar}\n`);
  describe.skip(name, () => {
    it('needs a WebGPU adapter', () => {});
  });
}
