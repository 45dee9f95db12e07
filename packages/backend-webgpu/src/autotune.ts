/**
 * Picks the matmul variant per adapter and shape class by timing the candidates once, at backend
 * creation (timing needs to wait for the GPU, which a synchronous matmul() cannot). Choices are
 * cached per adapter for the life of the process, so later backends on the same adapter reuse
 * them. Shape classes: aligned (M, N, K multiples of 4: the vec4 kernel applies) or not, times
 * small (< 128^3 multiply-adds) or large.
 */
import { adapterName, isSoftwareAdapter } from './device.js';
import { aligned, fitsRb16, type MatmulShape, type MatmulVariant } from './kernels/matmul.js';

/** How the backend picks its matmul kernel: timed at creation, by rule of thumb, or fixed. */
export interface TuneOptions {
  /** Time the matmul variants at creation (default true). false: a rule of thumb per adapter. */
  autotune?: boolean;
  /** Always use this variant where it applies ('rb16' and 'rb4' need aligned shapes). */
  matmulVariant?: MatmulVariant;
}

/** The matmul shape classes a variant is chosen for: aligned (M, N, K multiples of 4) or not, times small or large. */
export type ShapeClass = 'aligned-small' | 'aligned-large' | 'unaligned-small' | 'unaligned-large';
export const SHAPE_CLASSES: readonly ShapeClass[] = ['aligned-small', 'aligned-large', 'unaligned-small', 'unaligned-large'];

/** The class of a matmul shape: large from 128³ multiply-adds (batch included). */
export function shapeClass(s: MatmulShape): ShapeClass {
  const big = s.m * s.n * s.k * s.batch >= 128 ** 3;
  return `${aligned(s) ? 'aligned' : 'unaligned'}-${big ? 'large' : 'small'}`;
}

/** The shape each class is timed at. */
const PROBE: Record<ShapeClass, [number, number, number]> = {
  'aligned-small': [64, 64, 64],
  'aligned-large': [192, 192, 192],
  'unaligned-small': [61, 67, 63],
  'unaligned-large': [189, 195, 191],
};

const candidates = (c: ShapeClass): MatmulVariant[] => (c.startsWith('aligned') ? ['rb16', 'rb4', 'rb', 'tiled'] : ['rb', 'tiled']);

/** Per adapter name: the chosen variant per class and the timings behind it (ms). */
const cache = new Map<string, { choice: Map<ShapeClass, MatmulVariant>; timings: Record<string, number> }>();

/** What a tuner needs from the backend. */
interface Host {
  readonly adapter: GPUAdapter;
  matmulInto(variant: MatmulVariant, shape: MatmulShape, a: GPUBuffer, b: GPUBuffer, c: GPUBuffer): void;
  scratch(bytes: number): GPUBuffer;
  releaseScratch(b: GPUBuffer): void;
  sync(): Promise<void>;
}

/** Chooses the matmul variant per shape class for one backend, from timings (cached per adapter) or a rule of thumb. */
export class MatmulTuner {
  private choice = new Map<ShapeClass, MatmulVariant>();
  private timings: Record<string, number> = {};
  private source: 'fixed' | 'rule' | 'tuned' = 'rule';

  constructor(private readonly host: Host, private readonly opts: TuneOptions) {
    for (const c of SHAPE_CLASSES) this.choice.set(c, this.rule(c));
    if (opts.matmulVariant) this.source = 'fixed';
  }

  /** Without timings: register blocking on software adapters (a CPU), workgroup tiles on GPUs. */
  private rule(c: ShapeClass): MatmulVariant {
    if (isSoftwareAdapter(this.host.adapter)) return c === 'aligned-large' ? 'rb16' : c.startsWith('aligned') ? 'rb4' : 'rb';
    return 'tiled';
  }

  /** The variant to run `s` with; one that does not apply to the shape steps down (rb16 → rb4 → rb). */
  choose(s: MatmulShape): MatmulVariant {
    let v = this.opts.matmulVariant ?? this.choice.get(shapeClass(s))!;
    if (v === 'rb16' && !fitsRb16(s)) v = 'rb4';
    if (v === 'rb4' && !aligned(s)) v = 'rb';
    return v;
  }

  /** One line for logs: how the choice was made and the variant per shape class. */
  summary(): string {
    const parts = SHAPE_CLASSES.map((c) => `${c}: ${this.choose(PROBE_SHAPE(c))}`);
    return `${this.source === 'tuned' ? 'autotuned' : this.source === 'fixed' ? 'fixed' : 'rule of thumb'} (${parts.join(', ')})`;
  }

  /** The timings (ms per call) behind the choice, by 'class/variant'. */
  report(): Record<string, number> {
    return { ...this.timings };
  }

  /** Times each candidate per shape class on this adapter (once per process) unless autotune is off or a variant is fixed. */
  async tune(): Promise<void> {
    if (this.opts.matmulVariant || this.opts.autotune === false) return;
    const key = adapterName(this.host.adapter);
    let hit = cache.get(key);
    if (!hit) {
      const timings: Record<string, number> = {};
      const choice = new Map<ShapeClass, MatmulVariant>();
      for (const c of SHAPE_CLASSES) {
        const [m, n, k] = PROBE[c];
        const shape: MatmulShape = { batch: 1, m, n, k, transA: false, transB: false, aBatch: 0, bBatch: 0 };
        const a = this.host.scratch(m * k * 4);
        const b = this.host.scratch(k * n * 4);
        const out = this.host.scratch(m * n * 4);
        let best = Infinity;
        for (const v of candidates(c)) {
          const w0 = performance.now();
          this.host.matmulInto(v, shape, a, b, out); // compiles the pipeline
          await this.host.sync();
          // A candidate far behind already (compile time included) is not worth timing.
          if (performance.now() - w0 > 4 * best + 50) {
            timings[`${c}/${v}`] = Infinity;
            continue;
          }
          let t = Infinity;
          for (let rep = 0; rep < 2; rep++) {
            const t0 = performance.now();
            this.host.matmulInto(v, shape, a, b, out);
            await this.host.sync();
            t = Math.min(t, performance.now() - t0);
          }
          timings[`${c}/${v}`] = t;
          if (t < best) {
            best = t;
            choice.set(c, v);
          }
        }
        for (const buf of [a, b, out]) this.host.releaseScratch(buf);
      }
      hit = { choice, timings };
      cache.set(key, hit);
    }
    this.choice = new Map(hit.choice);
    this.timings = hit.timings;
    this.source = 'tuned';
  }
}

function PROBE_SHAPE(c: ShapeClass): MatmulShape {
  const [m, n, k] = PROBE[c];
  return { batch: 1, m, n, k, transA: false, transB: false, aBatch: 0, bBatch: 0 };
}
