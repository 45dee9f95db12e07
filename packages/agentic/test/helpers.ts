import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from '@karakoram/backend-cpu';
import { createRuntime } from '@karakoram/core';
import { DeepseekV3ForCausalLM, preset } from '@karakoram/model';
import { saveCheckpoint } from '@karakoram/model/node';

export const tempDir = (tag: string): Promise<string> => mkdtemp(join(tmpdir(), `karakoram-agentic-${tag}-`));

/** A random tiny model over the byte tokenizer (vocab 261), saved as an HF checkpoint: every LLM role's gibberish. */
export async function tinyCheckpoint(dir: string, name = 'tiny-agentic'): Promise<string> {
  register();
  await createRuntime({ backend: 'cpu' });
  const out = join(dir, name);
  const model = new DeepseekV3ForCausalLM(preset('tiny', { vocab_size: 261, max_position_embeddings: 8192 } as never), { seed: 11 });
  await saveCheckpoint(out, model.config, model.stateDict(), { dtype: 'F32' });
  model.dispose();
  return out;
}

/** The reference memory MCP server's entry point, from this package's node_modules (a devDependency). */
export const MEMORY_SERVER = join(__dirname, '..', 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');

export const memoryServer = (file: string) => ({
  name: 'memory',
  transport: 'stdio' as const,
  command: process.execPath,
  args: [MEMORY_SERVER],
  env: { MEMORY_FILE_PATH: file },
  stateTool: 'read_graph',
});

export const readJsonlFile = async <T = Record<string, unknown>>(path: string): Promise<T[]> =>
  (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}
