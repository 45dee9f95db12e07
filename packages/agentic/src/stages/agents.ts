/**
 * Stage 2: agents, each a system prompt plus a tool subset.
 *   in:  tools.jsonl (ToolSpec)
 *   out: agents.jsonl, one AgentSpec per agent (id "agent-N"), tools embedded (self-contained jobs)
 * Sampling is deterministic in `seed` and spreads over domains: each agent's home domain is the
 * least-covered one so far (ties by a seeded order), its tools a seeded draw from that domain (the
 * `pinTools` present there first), plus, with probability `crossDomain`, one tool of another domain.
 * Rerun: ids already written are skipped (the same seed draws the same agents).
 */
import { rng, shuffle } from '../util.js';
import type { ToolSpec } from './tools.js';

/** One agent: a system prompt and the tools it may call, in one domain. */
export interface AgentSpec {
  id: string;
  domain: string;
  systemPrompt: string;
  tools: ToolSpec[];
}

/** Settings of agent sampling. */
export interface AgentSampling {
  count: number;
  toolsPerAgent: number;
  seed: number;
  /** Tool names always included when the domain has them (e.g. the core tools of an MCP server). */
  pinTools: string[];
  /** Chance of one extra tool from another domain. */
  crossDomain: number;
}

/** The system prompt of an agent for `domain` with these tools. */
export function systemPromptFor(domain: string, tools: readonly ToolSpec[]): string {
  return `You are a careful assistant for ${domain.replace(/[_-]+/g, ' ')}. Use the tools (${tools.map((t) => t.name).join(', ')}) to do what the user asks; ` +
    'call a tool rather than guessing, check results, and reply with a short summary when the request is complete.';
}

/** Samples `o.count` agents, spreading them over the domains, each with a tool subset of one domain (plus pinned and occasional cross-domain tools). */
export function sampleAgents(tools: readonly ToolSpec[], o: AgentSampling): AgentSpec[] {
  const byDomain = new Map<string, ToolSpec[]>();
  for (const t of tools) (byDomain.get(t.domain) ?? byDomain.set(t.domain, []).get(t.domain)!).push(t);
  const rand = rng(`agents:${o.seed}`);
  const domains = shuffle([...byDomain.keys()].sort(), rand);
  if (!domains.length) return [];
  const coverage = new Map(domains.map((d) => [d, 0]));
  const out: AgentSpec[] = [];
  for (let i = 0; i < o.count; i++) {
    const domain = domains.reduce((best, d) => (coverage.get(d)! < coverage.get(best)! ? d : best), domains[0]!);
    coverage.set(domain, coverage.get(domain)! + 1);
    const pool = byDomain.get(domain)!;
    const pinned = pool.filter((t) => o.pinTools.includes(t.name));
    const rest = shuffle(pool.filter((t) => !o.pinTools.includes(t.name)), rand);
    const picked = [...pinned, ...rest].slice(0, Math.max(1, o.toolsPerAgent));
    const others = domains.filter((d) => d !== domain);
    if (others.length && rand() < o.crossDomain) {
      const extra = shuffle(byDomain.get(others[Math.floor(rand() * others.length)]!)!, rand).find((t) => !picked.some((p) => p.name === t.name));
      if (extra) picked.push(extra);
    }
    out.push({ id: `agent-${i}`, domain, systemPrompt: systemPromptFor(domain, picked), tools: picked });
  }
  return out;
}
