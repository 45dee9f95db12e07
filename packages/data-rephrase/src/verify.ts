/**
 * Stage 5, fidelity verification.
 *   in:  the source text, its rewrite, a judge provider (optional), bounds
 *   out: Verification {verdict, reasons, checks}
 * Two parts. The cheap checks: every number of the source (commas in numbers ignored) and most of
 * its capitalised entities (capitalised words that are not common sentence-starters) appear in
 * the rewrite, and the word-type Jaccard overlap lies within [minOverlap, maxOverlap] (below:
 * off-topic or invented; above: a copy, not a rephrasing). The judge: an LLM call with a rubric
 * that must answer JSON {"verdict": "pass"|"fail", "reasons": [...]}; a reply without that JSON
 * is a fail. With judge 'llm' both must pass; 'checks' uses the checks alone; 'none' records
 * "unverified".
 */
import type { ChatProvider } from '@karakoram/llm';
import type { TokenUsage } from './rewrite.js';

/** The results of {@link cheapChecks}. */
export interface CheapChecks {
  numbers: { total: number; found: number; missing: string[] };
  entities: { total: number; found: number; missing: string[] };
  overlap: number;
  ok: boolean;
  reasons: string[];
}

/** Thresholds of the rule checks. */
export interface CheckBounds {
  minNumberRecall: number;
  minEntityRecall: number;
  minOverlap: number;
  maxOverlap: number;
}

/** The outcome of verifying a rewrite ("unverified" when verification is off). */
export type Verdict = 'pass' | 'fail' | 'unverified';

/** The verification of one rewrite: verdict, reasons, rule checks, the judge's answer and the tokens used. */
export interface Verification {
  verdict: Verdict;
  reasons: string[];
  checks: CheapChecks;
  judge?: { verdict: 'pass' | 'fail'; reasons: string[] };
  usage: TokenUsage;
}

const COMMON_CAPS = new Set(
  ('The A An And But Or In On At Of To For From By With As It Its This That These Those There Here He She They We I You His Her Their Our My Your ' +
    'What When Where Which Who Why How If Then So Some Many Most Each Every All Both One Two After Before During While Although Because Since Also However ' +
    'Today Yes No Not Is Are Was Were Be Question Answer Note Notes Source Rewrite').split(' '),
);

/** The distinct numbers in `s` (thousands separators removed). */
export const numbersOf = (s: string): string[] => [...new Set((s.match(/\d+(?:[.,]\d+)*/g) ?? []).map((n) => n.replace(/,(?=\d{3}\b)/g, '')))];
/** Capitalised words (possessive 's dropped) that are not common sentence-starters. */
export const entitiesOf = (s: string): string[] => [...new Set((s.match(/\b\p{Lu}[\p{L}\p{M}-]*\p{L}/gu) ?? []).filter((w) => !COMMON_CAPS.has(w)))];
const wordTypes = (s: string): Set<string> => new Set((s.toLowerCase().match(/\p{L}[\p{L}\p{M}'’-]*/gu) ?? []).filter((w) => w.length > 2));

/** Rule checks of a rewrite against its source: recall of numbers and entities, and lexical overlap within bounds. */
export function cheapChecks(source: string, rewrite: string, b: CheckBounds): CheapChecks {
  const rwNumbers = new Set(numbersOf(rewrite));
  const srcNumbers = numbersOf(source);
  const missingNumbers = srcNumbers.filter((n) => !rwNumbers.has(n));
  const srcEntities = entitiesOf(source);
  const missingEntities = srcEntities.filter((e) => !new RegExp(`(^|[^\\p{L}])${e.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\p{L}])`, 'u').test(rewrite));
  const a = wordTypes(source);
  const c = wordTypes(rewrite);
  let inter = 0;
  for (const w of a) if (c.has(w)) inter++;
  const union = a.size + c.size - inter;
  const overlap = union === 0 ? 0 : inter / union;
  const reasons: string[] = [];
  const numRecall = srcNumbers.length ? 1 - missingNumbers.length / srcNumbers.length : 1;
  const entRecall = srcEntities.length ? 1 - missingEntities.length / srcEntities.length : 1;
  if (numRecall < b.minNumberRecall) reasons.push(`numbers missing from the rewrite: ${missingNumbers.slice(0, 10).join(', ')}`);
  if (entRecall < b.minEntityRecall) reasons.push(`entities missing from the rewrite: ${missingEntities.slice(0, 10).join(', ')}`);
  if (overlap < b.minOverlap) reasons.push(`lexical overlap ${overlap.toFixed(3)} is below ${b.minOverlap} (off-topic or invented)`);
  if (overlap > b.maxOverlap) reasons.push(`lexical overlap ${overlap.toFixed(3)} is above ${b.maxOverlap} (a copy, not a rephrasing)`);
  if (rewrite.trim() === '') reasons.push('the rewrite is empty');
  return {
    numbers: { total: srcNumbers.length, found: srcNumbers.length - missingNumbers.length, missing: missingNumbers },
    entities: { total: srcEntities.length, found: srcEntities.length - missingEntities.length, missing: missingEntities },
    overlap: Math.round(overlap * 1e4) / 1e4,
    ok: reasons.length === 0,
    reasons,
  };
}

/** The judge's system prompt: the fidelity rubric and the JSON verdict format. */
export const JUDGE_RUBRIC =
  'You check whether a REWRITE is faithful to its SOURCE. Rubric:\n' +
  '1. Every statement in the rewrite is supported by the source (nothing invented).\n' +
  '2. Nothing in the rewrite contradicts the source.\n' +
  '3. The key facts, names and numbers of the source are kept.\n' +
  '4. The rewrite is coherent text in its own words, not a copy of the source.\n' +
  'Reply with JSON only: {"verdict": "pass" or "fail", "reasons": ["one short reason per problem"]}.';

/** The first JSON object in `text` with a verdict, or undefined. */
export function parseVerdict(text: string): { verdict: 'pass' | 'fail'; reasons: string[] } | undefined {
  text = text.slice(0, 8000);
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) {
    for (let j = text.lastIndexOf('}'); j > i; j = text.lastIndexOf('}', j - 1)) {
      try {
        const v = JSON.parse(text.slice(i, j + 1)) as { verdict?: unknown; reasons?: unknown };
        const verdict = typeof v.verdict === 'string' ? v.verdict.toLowerCase() : '';
        if (verdict === 'pass' || verdict === 'fail') {
          const reasons = Array.isArray(v.reasons) ? v.reasons.map(String) : typeof v.reasons === 'string' ? [v.reasons] : [];
          return { verdict, reasons };
        }
      } catch {
        /* try a shorter span */
      }
    }
  }
  return undefined;
}

/** Asks the judge whether the rewrite is faithful to the source; a reply that is not a JSON verdict counts as a fail. */
export async function judgeFidelity(judge: ChatProvider, source: string, rewrite: string, maxTokens = 256): Promise<{ verdict: 'pass' | 'fail'; reasons: string[]; usage: TokenUsage }> {
  const r = await judge.chat({
    messages: [
      { role: 'system', content: JUDGE_RUBRIC },
      { role: 'user', content: `SOURCE:\n${source}\n\nREWRITE:\n${rewrite}` },
    ],
    temperature: 0,
    max_tokens: maxTokens,
  });
  const usage = { prompt: r.usage?.prompt_tokens ?? 0, completion: r.usage?.completion_tokens ?? 0 };
  const text = r.choices[0]?.message.content ?? '';
  const v = parseVerdict(text);
  if (!v) return { verdict: 'fail', reasons: [`the judge's reply was not a JSON verdict: ${JSON.stringify(text.slice(0, 120))}`], usage };
  return { ...v, usage };
}

/** Verifies a rewrite: the rule checks always run; the verdict comes from them ("checks"), from them and the LLM judge ("llm"), or is "unverified" ("none"). */
export async function verifyRewrite(
  source: string,
  rewrite: string,
  opts: CheckBounds & { judge: 'llm' | 'checks' | 'none'; provider?: ChatProvider; judgeMaxTokens?: number },
): Promise<Verification> {
  const checks = cheapChecks(source, rewrite, opts);
  if (opts.judge === 'none') return { verdict: 'unverified', reasons: [], checks, usage: { prompt: 0, completion: 0 } };
  if (opts.judge === 'checks' || !opts.provider) return { verdict: checks.ok ? 'pass' : 'fail', reasons: checks.reasons, checks, usage: { prompt: 0, completion: 0 } };
  const j = await judgeFidelity(opts.provider, source, rewrite, opts.judgeMaxTokens);
  const pass = j.verdict === 'pass' && checks.ok;
  const reasons = [...(j.verdict === 'fail' ? j.reasons.map((r) => `judge: ${r}`) : []), ...checks.reasons];
  return { verdict: pass ? 'pass' : 'fail', reasons, checks, judge: { verdict: j.verdict, reasons: j.reasons }, usage: j.usage };
}
