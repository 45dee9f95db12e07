import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './helpers.js';

/**
 * A real redis-server for the BullMQ tests (here and in packages/agentic): started on a free
 * loopback port with persistence off, stopped by `stop()`. Without redis-server on PATH,
 * `requireRedis` throws under CI (.ci/run installs it) and warns loudly elsewhere.
 */
export const haveRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

export function requireRedis(what: string): void {
  if (haveRedis) return;
  if (process.env.CI) throw new Error('redis-server is not on PATH: the BullMQ tests need it in CI (.ci/run installs it)');
  console.warn(`\n*** SKIPPING ${what}: redis-server is not on PATH (apt-get install redis-server) ***\n`);
}

export interface RedisServer {
  url: string;
  stop(): Promise<void>;
}

async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => (s.end(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() - t0 > ms) throw new Error(`redis-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts redis-server with its working files in `dir`. */
export async function startRedis(dir: string): Promise<RedisServer> {
  const port = await freePort();
  const redis: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await waitForPort(port);
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (redis.exitCode !== null) return;
      const gone = new Promise((r) => redis.on('exit', r));
      redis.kill('SIGTERM');
      await gone;
    },
  };
}
