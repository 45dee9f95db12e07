/**
 * The LLM user simulator: a persona pursuing the task's instruction, one turn at a time.
 * The LLM answers JSON {"message": "...", "done": false}; a message containing the stop token
 * (default "###STOP###") also ends the episode. When the reply does not parse (a tiny random
 * model's gibberish) after the attempts, the documented fallback is a persona-templated turn:
 * turn 0 is the persona's greeting plus the instruction; later turns ask for the next checkpoint
 * whose tool has not been called yet, and once none is left the user thanks and stops.
 */
import type { ChatProvider } from '@karakoram/llm';
import { chatJson } from '../llm-json.js';
import type { TaskSpec } from '../stages/tasks.js';

/** One simulated user turn: its text, whether the user is done, and how it was made. */
export interface UserTurn {
  text: string;
  done: boolean;
  via: 'llm' | 'template';
  /** Why the LLM's reply was not used (template turns). */
  reasons?: string[];
  tokens: number;
}

/** Settings of the user simulator. */
export interface UserSimOptions {
  stopToken: string;
  maxTokens: number;
  jsonAttempts: number;
  temperature: number;
  seed: number;
}

/** A deterministic user turn: the greeting and instruction first, then a request for each checkpoint not yet called, then the stop token. */
export function templateUserTurn(task: TaskSpec, turn: number, calledTools: readonly string[], stopToken: string): { text: string; done: boolean } {
  if (turn === 0) return { text: `${task.persona.greeting} ${task.instruction}`, done: false };
  const pending = task.rubric.checkpoints.find((c) => c.tool && !calledTools.includes(c.tool));
  if (pending) return { text: `Could you also ${pending.description}${pending.arguments ? ` with ${JSON.stringify(pending.arguments)}` : ''}?`, done: false };
  return { text: `Thanks, that is all I needed. ${stopToken}`, done: true };
}

/** Simulates the user of an episode from the task's persona and instruction. */
export class UserSimulator {
  constructor(private readonly provider: ChatProvider | undefined, private readonly o: UserSimOptions) {}

  /** The user's next turn: asks the LLM (when there is a provider), else falls back to {@link templateUserTurn}. */
  async next(task: TaskSpec, transcript: readonly { role: 'user' | 'assistant'; content: string }[], turn: number, calledTools: readonly string[]): Promise<UserTurn> {
    const reasons: string[] = [];
    let tokens = 0;
    if (this.provider) {
      const convo = transcript.map((m) => `${m.role === 'user' ? 'You' : 'Assistant'}: ${m.content}`).join('\n') || '(nothing yet)';
      const r = await chatJson(
        this.provider,
        [
          { role: 'system', content: `You play a user talking to an assistant. Persona: ${task.persona.name} (${task.persona.style}). Your goal: ${task.instruction}\nGive details only when asked. When the goal is met, say so and include ${this.o.stopToken}. Answer JSON {"message": "...", "done": true|false}.` },
          { role: 'user', content: `Conversation so far:\n${convo}\nYour next message:` },
        ],
        (v) => {
          const o = v as { message?: unknown; done?: unknown };
          if (typeof o?.message !== 'string' || !o.message.trim()) return 'expected {"message": string, "done": boolean}';
          return { text: o.message.trim(), done: o.done === true || o.message.includes(this.o.stopToken) };
        },
        { attempts: this.o.jsonAttempts, maxTokens: this.o.maxTokens, temperature: this.o.temperature, seed: this.o.seed + turn },
      );
      tokens = r.tokens;
      if (r.ok) return { ...r.value, via: 'llm', tokens };
      reasons.push(...r.reasons);
    }
    return { ...templateUserTurn(task, turn, calledTools, this.o.stopToken), via: 'template', reasons, tokens };
  }
}
