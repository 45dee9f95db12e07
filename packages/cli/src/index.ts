import { Command, InvalidArgumentError } from 'commander';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { register as registerWebGpu } from '@karakoram/backend-webgpu';
import { register as registerTfjs } from '@karakoram/backend-tfjs-node-gpu';
import { reportError } from './errors.js';
import { paramsCommand } from './commands/params.js';
import { costCommand } from './commands/cost.js';
import { logitsCommand } from './commands/logits.js';
import { generateCommand } from './commands/generate.js';
import { trainCommand } from './commands/train.js';
import { serveCommand } from './commands/serve.js';
import { rephraseCommand } from './commands/rephrase.js';
import { rlCommand } from './commands/rl.js';
import { labCommand } from './commands/lab.js';
import { synthCommand } from './commands/synth.js';

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${v}"`);
  return n;
};
const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${v}"`);
  return n;
};
const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** The `karakoram` command as a commander `Command` (every subcommand registered); `io` receives its output lines. */
export function buildProgram(io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) }): Command {
  registerCpu();
  registerWebGpu();
  registerTfjs();
  const p = new Command('karakoram').description('Kimi-K2-style models in TypeScript: train, run, count and serve').exitOverride();
  p.command('params').description('total and activated parameter counts of a preset')
    .requiredOption('--preset <name>', 'kimi-k2, deepseek-v3, moonlight-16b-a3b, small, tiny')
    .option('--json', 'print JSON')
    .action((o) => paramsCommand(o, io.out));
  p.command('cost').description('inference FLOPs and KV-cache bytes per token at a context length, MLA absorbed vs full cache')
    .requiredOption('--preset <name>', 'a preset name')
    .requiredOption('--context <n>', 'context length in tokens', int)
    .option('--heads <n>', 'compare with this many attention heads', int)
    .option('--json', 'print JSON')
    .action((o) => costCommand(o, io.out));
  p.command('logits').description('logits for every position of equal-length token sequences')
    .requiredOption('--model <dir>', 'HF checkpoint directory')
    .requiredOption('--tokens <file>', 'JSON array of token-id arrays of equal length')
    .requiredOption('--out <file>', 'output JSON {"logits": [batch][position][vocab]}')
    .option('--backend <name>', 'cpu (default), webgpu, tfjs-node-gpu')
    .option('--mla <path>', 'absorbed or full', 'full')
    .action((o) => logitsCommand(o, io.err));
  p.command('generate').description('generate text from a checkpoint')
    .requiredOption('--model <dir>', 'HF checkpoint directory')
    .requiredOption('--prompt <text>', 'prompt (repeat for a batch)', collect)
    .option('--max-new-tokens <n>', 'tokens to generate per prompt', int, 64)
    .option('--temperature <t>', '0 is greedy', num, 0)
    .option('--top-p <p>', 'nucleus mass', num, 1)
    .option('--seed <n>', 'sampling seed', int, 0)
    .option('--stop <text>', 'stop sequence (repeatable)', collect)
    .option('--backend <name>', 'cpu (default), webgpu, tfjs-node-gpu')
    .action((o) => generateCommand(o, io.out, io.err));
  p.command('train').description('train a model from one config file (see the README: Training config)')
    .requiredOption('--config <file>', 'JSON training config')
    .action((o) => trainCommand(o, io.out));
  p.command('serve').description('serve a checkpoint as an OpenAI-compatible HTTP server (/v1/chat/completions, /v1/models, /health)')
    .requiredOption('--model <dir>', 'HF checkpoint directory')
    .option('--port <n>', 'port (0: a free one)', int, 8000)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--max-body <bytes>', 'largest request body', int, 1 << 20)
    .option('--batch-wait-ms <n>', 'how long to collect requests into one batch', int, 5)
    .option('--model-name <name>', 'served model name (default: the directory name)')
    .option('--backend <name>', 'cpu (default), webgpu, tfjs-node-gpu')
    .action((o) => serveCommand(o, io.out, io.err));
  p.command('rephrase').description('rephrase a JSONL corpus (K2 knowledge/math rephrasing), in-process or on BullMQ workers')
    .requiredOption('--config <file>', 'JSON rephrase config (see packages/data-rephrase/README.md)')
    .option('--queue <url>', 'run as BullMQ jobs on this Redis, e.g. redis://127.0.0.1:6379')
    .option('--workers <n>', 'BullMQ workers in this process (0: workers run elsewhere)', int, 1)
    .option('--worker-only', 'only run workers for the queue (with --queue)')
    .action((o) => rephraseCommand(o, io.out, io.err));
  p.command('lab').description('K2 design lab: sparsity and attention-head sweeps with seeds, held-out loss, FLOPs, results.md and charts')
    .requiredOption('--config <file>', 'JSON lab config (see packages/lab/README.md)')
    .option('--out <dir>', 'output directory (default: the config\'s out)')
    .option('--smoke', 'the test-sized sweep (under a minute)')
    .action((o) => labCommand(o, io.out, io.err));
  p.command('rl').description('RL with colocated training and inference engines (K2 objective) from one config file')
    .requiredOption('--config <file>', 'JSON RL config (see packages/rl/README.md)')
    .action((o) => rlCommand(o, io.out));
  p.command('synth').description('agentic tool-use data synthesis: MCP/synthetic tools, agents, rubric tasks, simulated users and tools, LLM judge, SFT export')
    .requiredOption('--config <file>', 'JSON synth config (see packages/agentic/README.md)')
    .option('--stage <name>', 'run only this stage (repeatable): tools, agents, tasks, trajectories, judge, export', collect)
    .option('--queue <url>', 'run trajectories as BullMQ jobs on this Redis, e.g. redis://127.0.0.1:6379')
    .option('--workers <n>', 'BullMQ workers in this process (0: workers run elsewhere)', int, 1)
    .option('--worker-only', 'only run workers for the queue (with --queue)')
    .action((o) => synthCommand(o, io.out, io.err));
  return p;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const ce = e as { code?: string; exitCode?: number };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) return ce.exitCode ?? 1;
    return reportError(e);
  }
}
