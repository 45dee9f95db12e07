import { z } from 'zod';
import { ConfigError } from './errors.js';

/** Formats a zod failure as "path: what was expected" lines. */
export function formatIssues(err: z.ZodError): { path: string; message: string }[] {
  return err.issues.map((i) => ({ path: i.path.length ? i.path.join('.') : '(root)', message: describeIssue(i) }));
}

function describeIssue(i: z.ZodIssue): string {
  switch (i.code) {
    case 'invalid_type':
      return i.received === 'undefined' ? `required ${i.expected} is missing` : `expected ${i.expected}, got ${i.received}`;
    case 'invalid_enum_value':
      return `expected one of ${i.options.map((o) => JSON.stringify(o)).join(', ')}, got ${JSON.stringify(i.received)}`;
    case 'unrecognized_keys':
      return `unknown key(s) ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    default:
      return i.message;
  }
}

/** Validates `value` against `schema`; a failure lists every bad field with its path. */
export function parseConfig<S extends z.ZodTypeAny>(schema: S, value: unknown, where = 'config'): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = formatIssues(r.error);
  throw new ConfigError(`invalid configuration:\n  ${issues.map((i) => `${i.path}: ${i.message}`).join('\n  ')}`, issues, where);
}

export { z };
