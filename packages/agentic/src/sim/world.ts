/**
 * The deterministic world model behind simulated tools: a state of collections
 * ({COLLECTION: {ID: record}}) that tool calls read and change, chosen by the tool name's verb
 * (create/add/book… stores, update/set merges, delete/remove/cancel removes, get/read/open… reads
 * by id, list/search/find… filters, anything else echoes). It is the LLM tool simulator's
 * fallback and the evaluator's ground truth (tau-bench-style state checking: replaying the
 * expected calls on the initial state gives the expected state).
 */
import { stableStringify } from '../util.js';

/** The simulated world's state: collections by name (JSON). */
export type WorldState = Record<string, unknown>;

/** The result of applying one tool call to the world. */
export interface WorldResult {
  ok: boolean;
  result: unknown;
}

const singular = (w: string): string => w.replace(/ies$/, 'y').replace(/(ses|xes)$/, (m) => m.slice(0, -2)).replace(/s$/, '');
const CREATE = /^(create|add|book|insert|register|make|schedule|save|put|write|new)$/;
const UPDATE = /^(update|set|edit|modify|change|rename|assign)$/;
const DELETE = /^(delete|remove|cancel|drop)$/;
const GET = /^(get|read|open|fetch|show|lookup|describe)$/;
const LIST = /^(list|search|find|query|browse)$/;

/** The verb and the collection a tool name acts on: "create_order" → ["create", "order"]. */
export function verbNoun(tool: string): [string, string] {
  const parts = tool.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  const verb = parts[0] ?? '';
  return [verb, singular(parts.slice(1).join('_') || 'item')];
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** The deterministic rules world model: collections keyed by id, changed by tool calls named verb_noun. */
export class WorldModel {
  state: WorldState;
  private counter = 0;
  constructor(initial: WorldState = {}) {
    this.state = clone(initial);
  }

  /** The collection (created only for writes: reads leave the state as it was). */
  private coll(noun: string, create = false): Record<string, Record<string, unknown>> {
    const c = this.state[noun];
    if (c && typeof c === 'object' && !Array.isArray(c)) return c as Record<string, Record<string, unknown>>;
    const fresh: Record<string, Record<string, unknown>> = {};
    if (create) this.state[noun] = fresh;
    return fresh;
  }

  /** Applies one tool call to the state by its verb (create, update, delete, read…) and noun; returns the result. */
  apply(tool: string, args: Record<string, unknown>): WorldResult {
    const [verb, noun] = verbNoun(tool);
    const idKey = ['id', `${noun}_id`, `${noun}Id`, 'name'].find((k) => typeof args[k] === 'string' || typeof args[k] === 'number');
    const id = idKey ? String(args[idKey]) : undefined;
    if (CREATE.test(verb)) {
      const c = this.coll(noun, true);
      let newId = typeof args.id === 'string' ? args.id : '';
      while (!newId || (c[newId] && typeof args.id !== 'string')) newId = `${noun}-${++this.counter}`;
      c[newId] = { ...clone(args), id: newId };
      return { ok: true, result: { ok: true, id: newId, [noun]: c[newId] } };
    }
    if (UPDATE.test(verb)) {
      const c = this.coll(noun);
      if (!id || !c[id]) return { ok: false, result: { error: `${noun} ${JSON.stringify(id)} not found` } };
      c[id] = { ...c[id], ...clone(args), id };
      return { ok: true, result: { ok: true, [noun]: c[id] } };
    }
    if (DELETE.test(verb)) {
      const c = this.coll(noun);
      if (!id || !c[id]) return { ok: false, result: { error: `${noun} ${JSON.stringify(id)} not found` } };
      delete c[id];
      return { ok: true, result: { ok: true, deleted: id } };
    }
    if (GET.test(verb) && id) {
      const c = this.coll(noun);
      return c[id] ? { ok: true, result: c[id] } : { ok: false, result: { error: `${noun} ${JSON.stringify(id)} not found` } };
    }
    if (LIST.test(verb) || GET.test(verb)) {
      const c = this.coll(noun);
      const q = typeof args.query === 'string' ? args.query.toLowerCase() : '';
      const limit = typeof args.limit === 'number' ? args.limit : 50;
      const items = Object.values(c).filter((r) => !q || stableStringify(r).toLowerCase().includes(q)).slice(0, limit);
      return { ok: true, result: { items } };
    }
    return { ok: true, result: { ok: true, tool, arguments: args } };
  }

  /** A deep copy of the current state. */
  snapshot(): WorldState {
    return clone(this.state);
  }
}

/** The state the expected calls leave (tau-bench's expected final state). */
export function replayCalls(initial: WorldState, calls: readonly { name: string; arguments: Record<string, unknown> }[]): WorldState {
  const w = new WorldModel(initial);
  for (const c of calls) w.apply(c.name, c.arguments);
  return w.snapshot();
}
