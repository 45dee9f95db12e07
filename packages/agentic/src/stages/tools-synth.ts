/**
 * Stage 1b: synthetic tools by domain evolution (categories → domains → tools), K2-style.
 *   in:  categories (config: synthetic.categories), an LLM provider (the generator)
 *   out: domains.jsonl, one DomainRecord per domain (id "CATEGORY/DOMAIN");
 *        tools.jsonl, one ToolSpec per tool (id "syn:DOMAIN/NAME"), deduplicated by normalized
 *        name + schema hash and schema-validated with ajv (invalid: a final failure with ajv's reasons)
 * Each LLM answer must be JSON ({"domains": [...]} / {"tools": [...]}); a reply that does not parse
 * or check is retried, then recorded (kind llm_json) and, with `fallback` (default), replaced by
 * the deterministic template below (via: "template"); without it the category/domain fails.
 * Rerun: a category with domains written, and a domain with tools written, is skipped.
 */
import type { ChatProvider } from '@karakoram/llm';
import { chatJson } from '../llm-json.js';
import { checkToolSchema, schemaHash, type JsonSchema } from '../schema.js';
import type { StageFiles } from '../stage-io.js';
import { normalizeName, rng, shuffle } from '../util.js';
import { toolKey, type ToolSpec } from './tools.js';

/** One synthesized domain (domains.jsonl). */
export interface DomainRecord {
  id: string;
  category: string;
  name: string;
  description: string;
  via: 'llm' | 'template';
}

/** Settings of the domain-evolution tool synthesis. */
export interface EvolveOptions {
  domainsPerCategory: number;
  toolsPerDomain: number;
  seed: number;
  jsonAttempts: number;
  maxTokens: number;
  fallback: boolean;
}

const DOMAIN_SUFFIXES = ['bookings', 'records', 'inventory', 'tickets', 'accounts', 'reports', 'schedules', 'orders'];

/** Template domains: "CATEGORY SUFFIX", suffixes drawn by seed. */
export function templateDomains(category: string, n: number, seed: number): { name: string; description: string }[] {
  return shuffle(DOMAIN_SUFFIXES, rng(`${seed}:${category}`)).slice(0, n).map((s) => ({
    name: normalizeName(`${category} ${s}`),
    description: `Managing ${s} for ${category}.`,
  }));
}

const singular = (w: string): string => w.replace(/ies$/, 'y').replace(/s$/, '');

/** Template tools for a domain: create / list / get / update / delete of its entity. */
export function templateTools(domain: string, n: number): { name: string; description: string; inputSchema: JsonSchema }[] {
  const words = domain.split('_');
  const entity = singular(words[words.length - 1] || 'item');
  const id = { type: 'string', description: `The ${entity} id` };
  const all = [
    { name: `create_${entity}`, description: `Create a ${entity} in ${domain.replace(/_/g, ' ')}.`, inputSchema: { type: 'object', properties: { name: { type: 'string', description: `Name of the ${entity}` }, notes: { type: 'string', description: 'Free-text notes' } }, required: ['name'], additionalProperties: false } },
    { name: `list_${entity}s`, description: `List ${entity}s, optionally filtered by a query.`, inputSchema: { type: 'object', properties: { query: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 50 } }, additionalProperties: false } },
    { name: `get_${entity}`, description: `Get one ${entity} by id.`, inputSchema: { type: 'object', properties: { id }, required: ['id'], additionalProperties: false } },
    { name: `update_${entity}`, description: `Set the status of a ${entity}.`, inputSchema: { type: 'object', properties: { id, status: { type: 'string', enum: ['open', 'pending', 'closed'] } }, required: ['id', 'status'], additionalProperties: false } },
    { name: `delete_${entity}`, description: `Delete a ${entity}.`, inputSchema: { type: 'object', properties: { id }, required: ['id'], additionalProperties: false } },
  ];
  return all.slice(0, Math.max(1, n));
}

const checkDomains = (v: unknown): { name: string; description: string }[] | string => {
  const d = (v as { domains?: unknown })?.domains;
  if (!Array.isArray(d) || d.length === 0) return 'expected {"domains": [{"name", "description"}, ...]}';
  const out = d.filter((x): x is { name: string; description?: string } => typeof x?.name === 'string' && normalizeName(x.name).length > 0).map((x) => ({ name: normalizeName(x.name), description: typeof x.description === 'string' ? x.description : '' }));
  return out.length ? out : 'no domain has a name';
};

const checkTools = (v: unknown): { name: string; description: string; inputSchema: unknown }[] | string => {
  const t = (v as { tools?: unknown })?.tools;
  if (!Array.isArray(t) || t.length === 0) return 'expected {"tools": [{"name", "description", "inputSchema"}, ...]}';
  const out = t.filter((x) => typeof x?.name === 'string' && x.name.trim()).map((x) => ({ name: String(x.name), description: typeof x.description === 'string' ? x.description : '', inputSchema: x.inputSchema ?? x.input_schema ?? x.parameters }));
  return out.length ? out : 'no tool has a name';
};

/** categories → domains (domains.jsonl). */
export async function evolveDomains(provider: ChatProvider, categories: readonly string[], files: StageFiles<DomainRecord>, o: EvolveOptions): Promise<void> {
  for (const category of categories) {
    if (files.records.some((d) => d.category === category) || files.isDone(`category:${category}`)) continue;
    const r = await chatJson(
      provider,
      [
        { role: 'system', content: 'You design realistic software tool ecosystems. Answer with JSON only.' },
        { role: 'user', content: `List ${o.domainsPerCategory} distinct application domains in the category "${category}". Answer {"domains": [{"name": "snake_case_name", "description": "one sentence"}]}.` },
      ],
      checkDomains,
      { attempts: o.jsonAttempts, maxTokens: o.maxTokens, seed: o.seed },
    );
    let domains: { name: string; description: string }[];
    let via: DomainRecord['via'] = 'llm';
    if (r.ok) domains = r.value.slice(0, o.domainsPerCategory);
    else {
      files.fail({ id: `category:${category}`, kind: 'llm_json', reasons: [...r.reasons, o.fallback ? 'fell back to template domains' : 'no fallback: category skipped'], final: !o.fallback });
      if (!o.fallback) continue;
      domains = templateDomains(category, o.domainsPerCategory, o.seed);
      via = 'template';
    }
    for (const d of domains) files.write({ id: `${category}/${d.name}`, category, name: d.name, description: d.description, via });
  }
}

/** domains → tools (tools.jsonl), validated and deduplicated. */
export async function evolveTools(provider: ChatProvider, domains: readonly DomainRecord[], files: StageFiles<ToolSpec>, o: EvolveOptions): Promise<{ tools: number; invalid: number; duplicates: number }> {
  const s = { tools: 0, invalid: 0, duplicates: 0 };
  const keys = new Set(files.records.map(toolKey));
  for (const d of domains) {
    if (files.records.some((t) => t.origin.kind === 'synthetic' && t.origin.domain === d.name) || files.isDone(`domain:${d.name}`)) continue;
    const r = await chatJson(
      provider,
      [
        { role: 'system', content: 'You design tool APIs in MCP form. Answer with JSON only.' },
        { role: 'user', content: `Domain "${d.name}" (${d.description}) in category "${d.category}". Design ${o.toolsPerDomain} tools. Answer {"tools": [{"name": "snake_case", "description": "...", "inputSchema": {"type": "object", "properties": {...}, "required": [...]}}]}.` },
      ],
      checkTools,
      { attempts: o.jsonAttempts, maxTokens: o.maxTokens, seed: o.seed + 1 },
    );
    let cands: { name: string; description: string; inputSchema: unknown }[];
    let via: 'llm' | 'template' = 'llm';
    if (r.ok) cands = r.value.slice(0, o.toolsPerDomain);
    else {
      files.fail({ id: `domain:${d.name}`, kind: 'llm_json', reasons: [...r.reasons, o.fallback ? 'fell back to template tools' : 'no fallback: domain skipped'], final: !o.fallback });
      if (!o.fallback) continue;
      cands = templateTools(d.name, o.toolsPerDomain);
      via = 'template';
    }
    s.invalid += addSyntheticTools(files, keys, d, cands, via, s);
  }
  return s;
}

/** Validates and dedups candidate tools of a domain into `files`; returns how many were invalid. */
export function addSyntheticTools(
  files: StageFiles<ToolSpec>,
  keys: Set<string>,
  d: Pick<DomainRecord, 'category' | 'name'>,
  cands: readonly { name: string; description: string; inputSchema: unknown }[],
  via: 'llm' | 'template',
  counts: { tools: number; duplicates: number } = { tools: 0, duplicates: 0 },
): number {
  let invalid = 0;
  for (const c of cands) {
    const name = normalizeName(c.name);
    const id = `syn:${d.name}/${name}`;
    const reasons = name ? checkToolSchema(c.inputSchema) : ['empty tool name'];
    if (reasons.length) {
      invalid++;
      files.fail({ id, kind: 'invalid_schema', reasons, final: true });
      continue;
    }
    const tool: ToolSpec = { id, name, description: c.description, inputSchema: c.inputSchema as JsonSchema, domain: d.name, origin: { kind: 'synthetic', category: d.category, domain: d.name, via }, schemaHash: schemaHash(c.inputSchema) };
    const k = toolKey(tool);
    if (keys.has(k) || files.isDone(id)) {
      counts.duplicates++;
      continue;
    }
    keys.add(k);
    if (files.write(tool)) counts.tools++;
  }
  return invalid;
}
