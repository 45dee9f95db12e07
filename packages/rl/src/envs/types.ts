/**
 * Environments through a Gym-like interface. reset(seed) gives the prompt (the first
 * observation); step(action) takes the policy's text for one turn and answers with a reward, done,
 * and for multi-turn tasks the next observation (a tool result), which is appended to the
 * context as non-policy tokens before the policy's next turn.
 */
export interface StepResult {
  observation?: string;
  reward: number;
  done: boolean;
  info?: Record<string, unknown>;
}

/** An RL environment: prompts from seeds, and rewards for the policy's turns. */
export interface Env {
  readonly name: string;
  /** Per-task token budget: sampled tokens allowed over the whole episode. */
  readonly tokenBudget: number;
  /** Starts an episode for `seed`; returns the prompt text. */
  reset(seed: number): string;
  /** Takes one turn of the policy's text; returns the reward, whether the episode is done, and any observation. */
  step(action: string): StepResult;
}

/** Makes a fresh environment (one per episode). */
export type EnvFactory = () => Env;

/** Train / held-out split of a task's prompts by a hash of the prompt's identity. */
export type Split = 'train' | 'heldout' | 'all';

/** Whether a prompt with this key falls in `split` (every `heldOutEvery`-th by hash is held out). */
export function inSplit(key: number, split: Split, heldOutEvery = 5): boolean {
  if (split === 'all') return true;
  const h = (Math.imul(key ^ 0x9e3779b9, 0x85ebca6b) >>> 13) % heldOutEvery;
  return split === 'heldout' ? h === 0 : h !== 0;
}

/** The text of one turn, up to and excluding the first newline. */
export function firstLine(action: string): string {
  const i = action.indexOf('\n');
  return (i < 0 ? action : action.slice(0, i)).trim();
}
