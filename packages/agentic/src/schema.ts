/**
 * JSON Schema with ajv: checking a tool's inputSchema (it must compile, and be an object schema,
 * as MCP requires), validating a call's arguments before the call, and synthesizing arguments
 * from a schema (for templated tasks and the documented tool-call forcing bootstrap).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { rng, sha, stableStringify } from './util.js';

/** A JSON Schema object (as a tool's inputSchema). */
export type JsonSchema = Record<string, unknown>;

const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: true, validateFormats: false });
const cache = new Map<string, ValidateFunction>();

const fmtErrors = (errs: readonly ErrorObject[] | null | undefined): string[] =>
  (errs ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}${e.keyword === 'additionalProperties' ? ` (${JSON.stringify((e.params as { additionalProperty?: string }).additionalProperty)})` : ''}`);

/** Compiles (cached by content); throws with ajv's reason when the schema is invalid. */
function compile(schema: JsonSchema): ValidateFunction {
  const key = sha(stableStringify(schema), 32);
  let v = cache.get(key);
  if (!v) {
    v = ajv.compile(schema);
    cache.set(key, v);
  }
  return v;
}

/** Why `schema` is not a valid MCP inputSchema ([] when it is). */
export function checkToolSchema(schema: unknown): string[] {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return [`inputSchema must be a JSON Schema object, got ${Array.isArray(schema) ? 'an array' : schema === null ? 'null' : typeof schema}`];
  const s = schema as JsonSchema;
  const reasons: string[] = [];
  if (s.type !== 'object') reasons.push(`inputSchema.type must be "object" (MCP), got ${JSON.stringify(s.type)}`);
  try {
    compile(s);
  } catch (e) {
    reasons.push(`inputSchema does not compile as JSON Schema: ${(e as Error).message}`);
  }
  return reasons;
}

/** Why `args` do not satisfy `schema` ([] when they do). */
export function validateArgs(schema: JsonSchema, args: unknown): string[] {
  let v: ValidateFunction;
  try {
    v = compile(schema);
  } catch (e) {
    return [`the tool's inputSchema does not compile: ${(e as Error).message}`];
  }
  return v(args) ? [] : fmtErrors(v.errors);
}

/** A short hash of a JSON schema's canonical form (key order ignored). */
export const schemaHash = (schema: unknown): string => sha(stableStringify(schema));

/**
 * A value satisfying `schema` (for the common keywords: type, properties, required, items, enum,
 * const, default, minimum/maximum, minItems, minLength), deterministic in `seed`. Strings are
 * built from the property name ("name-3"), so synthesized calls are readable.
 */
export function synthesizeArgs(schema: JsonSchema, seed: number | string = 0): Record<string, unknown> {
  const rand = rng(typeof seed === 'number' ? seed : seed);
  const v = synth(schema, 'value', rand, 0);
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function synth(s: JsonSchema, name: string, rand: () => number, depth: number): unknown {
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[Math.floor(rand() * s.enum.length)];
  if ('default' in s) return s.default;
  const alt = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined;
  if (Array.isArray(alt) && alt.length) return synth(alt[0]!, name, rand, depth);
  let type = s.type as string | string[] | undefined;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? type[0];
  if (!type) type = s.properties ? 'object' : s.items ? 'array' : 'string';
  const n = 1 + Math.floor(rand() * 9);
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      if (depth > 6) return out;
      const props = (s.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
      for (const [k, ps] of Object.entries(props)) if (required.has(k) || depth === 0) out[k] = synth(ps ?? {}, k, rand, depth + 1);
      return out;
    }
    case 'array': {
      const count = Math.max(1, Number(s.minItems ?? 1));
      const items = (Array.isArray(s.items) ? s.items[0] : s.items) as JsonSchema | undefined;
      const singular = name.replace(/ies$/, 'y').replace(/s$/, '');
      return Array.from({ length: count }, () => synth(items ?? {}, singular, rand, depth + 1));
    }
    case 'integer':
    case 'number': {
      const lo = Number(s.minimum ?? s.exclusiveMinimum ?? 1);
      const hi = Number(s.maximum ?? s.exclusiveMaximum ?? lo + 10);
      const x = Math.min(hi, Math.max(lo, lo + n));
      return type === 'integer' ? Math.round(x) : x;
    }
    case 'boolean':
      return true;
    case 'null':
      return null;
    default: {
      if (s.format === 'date') return `2025-0${n}-1${n}`;
      if (s.format === 'date-time') return `2025-0${n}-1${n}T10:00:00Z`;
      if (s.format === 'email') return `${name}${n}@example.com`;
      const str = `${name}-${n}`;
      const min = Number(s.minLength ?? 0);
      return str.length >= min ? str : str.padEnd(min, 'x');
    }
  }
}
