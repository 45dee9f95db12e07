import { z } from 'zod';
import { ConfigError } from './errors.js';

/** Formats a zod failure as "path: what was expected" lines. */
export function formatIssues(err: z.ZodError): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  collectIssues(err.issues, out);
  return out;
}

const fmtPath = (p: readonly (string | number)[]): string => (p.length ? p.join('.') : '(root)');

/**
 * A union reports only "Invalid input" at its own path. The branch that got past the type check
 * (an object with bad fields) is the one the user meant: report its issues, with their deeper
 * paths. When no branch matched the type, say which types were expected.
 */
function collectIssues(issues: readonly z.ZodIssue[], out: { path: string; message: string }[]): void {
  for (const i of issues) {
    if (i.code !== 'invalid_union') {
      out.push({ path: fmtPath(i.path), message: describeIssue(i) });
      continue;
    }
    const at = i.path.length;
    // A branch whose only complaints are about the value's type or literal at the union's own
    // path did not match at all.
    const shallow = (j: z.ZodIssue): boolean =>
      j.path.length === at && (j.code === 'invalid_type' || j.code === 'invalid_literal' || j.code === 'invalid_enum_value');
    const matched = i.unionErrors.filter((e) => !e.issues.every(shallow)).sort((a, b) => a.issues.length - b.issues.length);
    if (matched.length) {
      collectIssues(matched[0]!.issues, out);
      continue;
    }
    const shallowIssues = i.unionErrors.flatMap((e) => e.issues.filter(shallow));
    const expected = [...new Set(shallowIssues.flatMap((j) =>
      j.code === 'invalid_type' ? [j.expected as string]
        : j.code === 'invalid_literal' ? [JSON.stringify(j.expected)]
          : j.code === 'invalid_enum_value' ? j.options.map((o) => JSON.stringify(o)) : []))];
    const typeIssue = shallowIssues.find((j) => j.code === 'invalid_type');
    const got = typeIssue?.code === 'invalid_type' ? typeIssue.received : JSON.stringify((shallowIssues[0] as { received?: unknown } | undefined)?.received);
    out.push({ path: fmtPath(i.path), message: expected.length ? `expected ${expected.join(' or ')}, got ${got}` : i.message });
  }
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
