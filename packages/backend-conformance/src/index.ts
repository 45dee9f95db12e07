/**
 * The backend conformance suite. A backend package runs it from one of its own test files:
 *
 * ```ts
 * import { runConformance } from '@karakoram/backend-conformance';
 * import { createMyBackend } from '../src/index.js';
 * runConformance('mine', () => createMyBackend(), { tolerance: { atol: 1e-4 }, skip: ['errors/gather index out of range'] });
 * ```
 *
 * It defines vitest `describe`/`it` blocks: every primitive forward against an independent
 * float64 reference, the nn ops, gradients of every differentiable primitive and nn op against
 * central finite differences of the reference, edge shapes (empty, size-1, rank 0, broadcasting,
 * views), error messages, the counter-based random stream, and memory accounting. Test ids are
 * `section/name` (for example `forward/binary/pow`, `grad/matmul/trans TN`); `skip` takes ids or
 * id prefixes, and the suite fails when a skip entry matches no test (so skips cannot go stale).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setBackend, type Backend } from '@karakoram/core';
import { Ctx, DEFAULT_TOLERANCE, type Tolerance } from './harness.js';
import { forwardSection } from './sections/forward.js';
import { nnSection } from './sections/nn.js';
import { gradSection } from './sections/grad.js';
import { edgeSection } from './sections/edge.js';
import { errorsSection } from './sections/errors.js';
import { randomSection } from './sections/random.js';
import { memorySection } from './sections/memory.js';

export { DEFAULT_TOLERANCE, type Tolerance } from './harness.js';
export * as reference from './ref.js';
export { Rng, randomF32 } from './prng.js';

export interface ConformanceOptions {
  /** Overrides of DEFAULT_TOLERANCE (forward atol/rtol, gradient atol/rtol, normal draws). */
  tolerance?: Partial<Tolerance>;
  /** Test ids or id prefixes to skip, e.g. 'errors/gather index out of range' or 'grad/'. */
  skip?: readonly string[];
}

export function runConformance(name: string, makeBackend: () => Backend | Promise<Backend>, opts: ConformanceOptions = {}): void {
  const tol: Tolerance = { ...DEFAULT_TOLERANCE, ...opts.tolerance };
  const skip = opts.skip ?? [];
  const c = new Ctx(tol, skip);

  describe(`backend conformance: ${name}`, () => {
    beforeAll(async () => {
      c.backend = await makeBackend();
      setBackend(c.backend);
    });
    afterAll(() => {
      const d = (c.backend as { destroy?: () => void } | undefined)?.destroy;
      d?.call(c.backend);
    });

    it('describes itself', () => {
      expect(typeof c.backend.describe()).toBe('string');
      expect(c.backend.describe().length).toBeGreaterThan(0);
      expect(c.backend.name.length).toBeGreaterThan(0);
    });

    c.section('forward', () => forwardSection(c));
    c.section('nn', () => nnSection(c));
    c.section('grad', () => gradSection(c));
    c.section('edge', () => edgeSection(c));
    c.section('errors', () => errorsSection(c));
    c.section('random', () => randomSection(c));
    c.section('memory', () => memorySection(c));

    it('every skip entry matches a test', () => {
      const stale = skip.filter((s) => !c.skipHits.has(s));
      expect(stale, `skip entries that match no test: ${stale.join(', ')}`).toEqual([]);
    });
  });
}
