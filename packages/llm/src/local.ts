/**
 * A Karakoram model as a chat provider, in this process. Messages are rendered with a chat
 * template (chat-template.ts: ChatML by default), tokenized, and generated; concurrent requests
 * are micro-batched into one batched `generate` call per group of compatible sampling settings
 * (temperature, top_p, seed, stop strings; max_tokens may differ: the batch runs to the largest
 * and each row is cut to its own). Greedy rows (temperature 0) give the same tokens whatever
 * they are batched with; sampled rows draw from (seed, step, row), so they repeat for the same
 * batch composition. Tool calls are parsed from the reply (see chat-template.ts).
 *
 * Generation is synchronous, so `chatStream` generates the whole reply and then streams it in
 * pieces: the wire format is right, the latency is not incremental.
 */
import { KarakoramError } from '@karakoram/core';
import type { GenerateOptions, GenerateResult, Tokenizer } from '@karakoram/model';
import { MicroBatcher } from './batcher.js';
import { chatMLTemplate, parseToolCalls, type ChatTemplate } from './chat-template.js';
import type { ChatChunk, ChatMessage, ChatProvider, ChatRequest, ChatResponse, FinishReason, ToolCall } from './types.js';

/** What the provider needs from a model: DeepseekV3ForCausalLM fits. */
export interface GenerativeModel {
  /** Generates continuations of a batch of token prompts. */
  generate(prompts: readonly (readonly number[])[], opts: GenerateOptions): GenerateResult;
  readonly config?: { max_position_embeddings?: number };
}

/** Settings of a local model provider. */
export interface LocalModelProviderOptions {
  chatTemplate?: ChatTemplate;
  /** The name requests and /v1/models use. Default "karakoram". */
  modelName?: string;
  /** How long to collect requests before a batch runs. Default 5 ms. */
  batchWaitMs?: number;
  /** Most rows in one generate call. Default 32. */
  maxBatchSize?: number;
  /** max_tokens when a request gives none. Default 256. */
  defaultMaxTokens?: number;
  /** Prompt + reply token limit. Default the model's max_position_embeddings. */
  maxContext?: number;
}

/** A request that does not fit the model's context. */
export class ContextLengthError extends KarakoramError {
  constructor(message: string) {
    super('context_length', message);
    this.name = 'ContextLengthError';
  }
}

interface Item {
  prompt: number[];
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  stop: string[];
}
interface Row {
  tokens: number[];
  finish: 'stop' | 'length';
}

let counter = 0;
const newId = (prefix: string): string => `${prefix}-${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;

export class LocalModelProvider implements ChatProvider {
  readonly model: string;
  readonly template: ChatTemplate;
  private readonly batcher: MicroBatcher<Item, Row>;
  private readonly defaultMaxTokens: number;
  private readonly maxContext: number;
  private readonly stopTokens: number[];

  constructor(
    private readonly lm: GenerativeModel,
    readonly tokenizer: Tokenizer,
    opts: LocalModelProviderOptions = {},
  ) {
    this.model = opts.modelName ?? 'karakoram';
    this.template = opts.chatTemplate ?? chatMLTemplate;
    this.defaultMaxTokens = opts.defaultMaxTokens ?? 256;
    this.maxContext = opts.maxContext ?? lm.config?.max_position_embeddings ?? Number.POSITIVE_INFINITY;
    // Template stops that are one token (a special) stop at the token; EOS always stops.
    this.stopTokens = [
      ...(tokenizer.eosId !== undefined ? [tokenizer.eosId] : []),
      ...this.template.stop.map((s) => tokenizer.encode(s)).filter((ids) => ids.length === 1).map((ids) => ids[0]!),
    ];
    this.batcher = new MicroBatcher<Item, Row>({
      waitMs: opts.batchWaitMs ?? 5,
      maxBatch: opts.maxBatchSize ?? 32,
      key: (it) => JSON.stringify([it.temperature, it.topP, it.seed, it.stop]),
      run: (items) => this.runBatch(items),
    });
  }

  /** Sizes of the generate calls run so far. */
  get batchSizes(): readonly number[] {
    return this.batcher.batchSizes;
  }

  private runBatch(items: Item[]): Row[] {
    const first = items[0]!;
    const maxNew = Math.max(...items.map((i) => i.maxNewTokens));
    const stopStrings = [...new Set([...this.template.stop, ...first.stop])];
    const r = this.lm.generate(items.map((i) => i.prompt), {
      maxNewTokens: maxNew,
      temperature: first.temperature,
      topP: first.topP,
      seed: first.seed,
      stopTokens: this.stopTokens,
      stopSequences: stopStrings.map((s) => this.tokenizer.encode(s)).filter((ids) => ids.length > 1),
    });
    return items.map((it, i) => {
      const toks = r.tokens[i]!;
      if (toks.length > it.maxNewTokens) return { tokens: toks.slice(0, it.maxNewTokens), finish: 'length' };
      return { tokens: toks, finish: r.finishReasons[i]! };
    });
  }

  private prepare(req: ChatRequest): Item {
    if (req.model !== undefined && req.model !== this.model) {
      throw new KarakoramError('model_not_found', `the model "${req.model}" does not exist (this provider serves "${this.model}")`);
    }
    const prompt = this.tokenizer.encode(this.template.render(req.messages, req.tools));
    if (this.tokenizer.bosId !== undefined) prompt.unshift(this.tokenizer.bosId);
    if (prompt.length >= this.maxContext) {
      throw new ContextLengthError(`the prompt is ${prompt.length} tokens; this model's context is ${this.maxContext} tokens`);
    }
    const wanted = req.max_tokens ?? this.defaultMaxTokens;
    const stop = req.stop === undefined ? [] : Array.isArray(req.stop) ? req.stop : [req.stop];
    return {
      prompt,
      maxNewTokens: Math.max(1, Math.min(wanted, this.maxContext - prompt.length)),
      temperature: req.temperature ?? 0,
      topP: req.top_p ?? 1,
      seed: req.seed ?? 0,
      stop: stop.filter((s) => s.length > 0),
    };
  }

  /** Renders the request with the chat template, generates in a micro-batch, and parses stop strings and tool calls from the reply. */
  async chat(req: ChatRequest): Promise<ChatResponse> {
    const item = this.prepare(req);
    const row = await this.batcher.submit(item);
    let text = this.tokenizer.decode(row.tokens);
    let finish: FinishReason = row.finish;
    // Text-level stop strings (a BPE token may straddle one).
    for (const s of [...this.template.stop, ...item.stop]) {
      const at = text.indexOf(s);
      if (at >= 0) {
        text = text.slice(0, at);
        finish = 'stop';
      }
    }
    const message: ChatMessage & { role: 'assistant' } = { role: 'assistant', content: text };
    if (req.tools?.length) {
      const { content, calls } = parseToolCalls(text);
      if (calls.length) {
        message.content = content || null;
        message.tool_calls = calls.map((c, i): ToolCall => ({ id: `call_${newId('t')}_${i}`, type: 'function', function: c }));
        finish = 'tool_calls';
      }
    }
    const usage = { prompt_tokens: item.prompt.length, completion_tokens: row.tokens.length, total_tokens: item.prompt.length + row.tokens.length };
    return { id: newId('chatcmpl'), object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: this.model, choices: [{ index: 0, message, finish_reason: finish }], usage };
  }

  /** Generates the whole reply, then yields it as stream chunks. */
  async *chatStream(req: ChatRequest): AsyncGenerator<ChatChunk> {
    const r = await this.chat(req);
    yield* responseToChunks(r);
  }
}

/** A whole response as the chunks a stream of it would carry (role, content pieces, tool calls, finish + usage). */
export function* responseToChunks(r: ChatResponse, pieceChars = 16): Generator<ChatChunk> {
  const base = { id: r.id, object: 'chat.completion.chunk' as const, created: r.created, model: r.model };
  const choice = r.choices[0]!;
  yield { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] };
  const chars = Array.from(choice.message.content ?? '');
  for (let i = 0; i < chars.length; i += pieceChars) {
    yield { ...base, choices: [{ index: 0, delta: { content: chars.slice(i, i + pieceChars).join('') }, finish_reason: null }] };
  }
  const calls = choice.message.tool_calls ?? [];
  for (let index = 0; index < calls.length; index++) {
    const c = calls[index]!;
    yield { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } }] }, finish_reason: null }] };
  }
  yield { ...base, choices: [{ index: 0, delta: {}, finish_reason: choice.finish_reason }], usage: r.usage };
}
