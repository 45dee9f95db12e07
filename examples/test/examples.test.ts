/**
 * Runs every example as a user would: `node --import tsx --conditions=source examples/<name>.ts`
 * (the workspace packages from their TypeScript sources; cli.ts runs the built bin, so `pnpm
 * build` first, which the test command does). Each must exit 0 within a minute or two.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..');
const examples = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();

function run(file: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', join(dir, file)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, out }));
  });
}

describe('examples', () => {
  it('has one per public package', () => {
    expect(examples.length).toBeGreaterThanOrEqual(14);
  });
  for (const file of examples) {
    it(file, async () => {
      const { code, out } = await run(file);
      console.log(`--- ${file}\n${out.trim()}`);
      expect(code, out).toBe(0);
      expect(out.trim().length).toBeGreaterThan(0);
    }, 180_000);
  }
});
