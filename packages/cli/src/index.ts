import { Command, InvalidArgumentError } from 'commander';
import { register as registerCpu } from '@karakoram/backend-cpu';
import { reportError } from './errors.js';
import { paramsCommand } from './commands/params.js';
import { costCommand } from './commands/cost.js';
import { logitsCommand } from './commands/logits.js';
import { generateCommand } from './commands/generate.js';
import { trainCommand } from './commands/train.js';

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

export function buildProgram(io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) }): Command {
  registerCpu();
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
