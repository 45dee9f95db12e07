import { KarakoramError, type NamedParameter, type ParamRole } from '@karakoram/core';

/** Which update a parameter gets. 'none': not trained by gradient (buffers). */
export type Route = 'muon' | 'adamw' | 'none';

/**
 * A name pattern: `/.../flags` is a regular expression (unanchored, tested against the full name);
 * anything else is a glob anchored at both ends where `*` matches any run of characters (dots
 * included), `?` one character, and everything else itself.
 */
export type NamePattern = string;

/** A NamePattern as a RegExp: `/re/flags` as written, anything else as an anchored glob (`*`, `?`). */
export function compilePattern(p: NamePattern): RegExp {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(p);
  if (m) {
    try {
      return new RegExp(m[1]!, m[2]);
    } catch (e) {
      throw new KarakoramError('config', `bad regular expression ${p}: ${(e as Error).message}`, 'optimizer patterns');
    }
  }
  const body = [...p].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}

export const matchesAny = (name: string, res: readonly RegExp[]): boolean => res.some((r) => r.test(name));

/**
 * The routing rule, by role (no guessing from names):
 *
 * - role 'matrix' with rank >= 2 → Muon (rank 2 is the usual case; leading dims of a higher rank
 *   are a stack of independent matrices, e.g. experts stored [E, out, in]);
 * - roles 'embedding', 'head', 'norm', 'bias' (and a 'matrix' of rank < 2) → AdamW;
 * - role 'buffer' → not trained by gradient (e.g. the MoE router's e_score_correction_bias, which
 *   moves by the aux-loss-free rule): skipped.
 *
 * Overrides by name: a name matching an `adamw` pattern goes to AdamW, one matching a `muon`
 * pattern to Muon (it must have rank >= 2). A name matching both, a pattern naming a buffer and a
 * pattern matching nothing are configuration errors.
 */
export function routeParameter(p: Pick<NamedParameter, 'name' | 'role' | 'tensor'>, muon: readonly RegExp[] = [], adamw: readonly RegExp[] = []): Route {
  const toMuon = matchesAny(p.name, muon);
  const toAdam = matchesAny(p.name, adamw);
  if (toMuon && toAdam) throw new KarakoramError('config', `${p.name} matches both a muon and an adamw pattern`, 'optimizer routing');
  if (p.role === 'buffer') {
    if (toMuon || toAdam) throw new KarakoramError('config', `${p.name} is a buffer (not trained by gradient) but matches a ${toMuon ? 'muon' : 'adamw'} pattern`, 'optimizer routing');
    return 'none';
  }
  if (toAdam) return 'adamw';
  if (toMuon) {
    if (p.tensor.rank < 2) throw new KarakoramError('config', `${p.name} has rank ${p.tensor.rank}; Muon needs a matrix (rank >= 2)`, 'optimizer routing');
    return 'muon';
  }
  return defaultRoute(p.role, p.tensor.rank);
}

/** The route by role: 'matrix' parameters of rank >= 2 to Muon, buffers to none, everything else to AdamW. */
export function defaultRoute(role: ParamRole, rank: number): Route {
  if (role === 'buffer') return 'none';
  if (role === 'matrix' && rank >= 2) return 'muon';
  return 'adamw';
}
