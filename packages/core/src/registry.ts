import type { Backend } from './backend.js';
import { parseConfig, z } from './config.js';
import { setBackend } from './engine.js';
import { KarakoramError } from './errors.js';

/** The kinds of plugin the registry holds; each kind has its own namespace of names. */
export type Kind = 'backend' | 'layer' | 'optimizer' | 'pipeline' | 'provider';

/** One registered plugin: its name, its factory and an optional description for listings. */
export interface Entry<F = unknown> {
  name: string;
  factory: F;
  description?: string;
}

/**
 * Names to factories, per kind. Plugin packages register themselves through their `register`
 * export; a name that is not registered yet is looked up as the package
 * `@karakoram/<kind>-<name>` (backends: `@karakoram/backend-<name>`) and registered on demand.
 */
export class Registry {
  private readonly entries = new Map<Kind, Map<string, Entry>>();

  /** Registers (or replaces) the factory for `kind`/`name`. */
  register<F>(kind: Kind, name: string, factory: F, description?: string): void {
    let m = this.entries.get(kind);
    if (!m) this.entries.set(kind, (m = new Map()));
    m.set(name, { name, factory, description });
  }

  /** Whether `kind`/`name` is registered (does not try to discover it). */
  has(kind: Kind, name: string): boolean {
    return this.entries.get(kind)?.has(name) ?? false;
  }

  /** The registered names of `kind`, in registration order. */
  names(kind: Kind): string[] {
    return [...(this.entries.get(kind)?.keys() ?? [])];
  }

  /** The factory for `kind`/`name`; throws an unknown-name error listing the known names. */
  get<F>(kind: Kind, name: string): F {
    const e = this.entries.get(kind)?.get(name);
    if (!e) {
      const known = this.names(kind);
      throw new KarakoramError('unknown-name', `no ${kind} named "${name}" is registered${known.length ? ` (known: ${known.join(', ')})` : ''}`, `registry.${kind}`);
    }
    return e.factory as F;
  }

  /** Registers the package for `kind`/`name` if it is installed and not registered yet. */
  async discover(kind: Kind, name: string): Promise<boolean> {
    if (this.has(kind, name)) return true;
    const pkg = `@karakoram/${kind}-${name}`;
    let mod: { register?: (r: Registry) => void };
    try {
      mod = (await import(/* @vite-ignore */ pkg)) as typeof mod;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(pkg)) return false;
      throw e;
    }
    mod.register?.(this);
    return this.has(kind, name);
  }
}

/** The process-wide registry that plugin packages register into and createBackend/createRuntime read. */
export const registry = new Registry();

/** The factory a backend package registers: options in, a ready backend out. */
export type BackendCreate = (options: Record<string, unknown>) => Backend | Promise<Backend>;

/** Config schema for the backend: a registered name, or `{ name, options, fallback }`. */
export const BackendConfig = z.union([
  z.string(),
  z
    .object({
      name: z.string(),
      options: z.record(z.unknown()).default({}),
      /** Backends to try, in order, when `name` cannot be created (package missing, no adapter). */
      fallback: z.array(z.string()).default([]),
    })
    .strict(),
]);

/** Config schema for createRuntime: the backend (default "cpu") and the global seed; other keys pass through. */
export const RuntimeConfig = z
  .object({
    backend: BackendConfig.default('cpu'),
    seed: z.number().int().nonnegative().default(0),
  })
  .passthrough();
/** What createRuntime accepts: RuntimeConfig before defaults are applied. */
export type RuntimeConfigInput = z.input<typeof RuntimeConfig>;

/** What createRuntime returns: the default backend it set up, the seed and the registry. */
export interface Runtime {
  backend: Backend;
  seed: number;
  /** Backends that were tried and failed before `backend`, with why. */
  fellBackFrom: { name: string; reason: string }[];
  registry: Registry;
}

/** Creates one backend by registered name (discovering its package if needed). */
export async function createBackend(name: string, options: Record<string, unknown> = {}): Promise<Backend> {
  if (!(await registry.discover('backend', name))) {
    throw new KarakoramError('unknown-backend', `backend "${name}" is not available: install @karakoram/backend-${name}${registry.names('backend').length ? ` (registered: ${registry.names('backend').join(', ')})` : ''}`, 'backend');
  }
  return registry.get<BackendCreate>('backend', name)(options);
}

/**
 * Validates a config and sets up the runtime it describes: the backend (with fallbacks) made
 * the default for new tensors. A bad config fails here, before any work starts.
 */
export async function createRuntime(config: RuntimeConfigInput = {}): Promise<Runtime> {
  const cfg = parseConfig(RuntimeConfig, config, 'runtime config');
  const spec = typeof cfg.backend === 'string' ? { name: cfg.backend, options: {}, fallback: [] as string[] } : cfg.backend;
  const fellBackFrom: Runtime['fellBackFrom'] = [];
  for (const name of [spec.name, ...spec.fallback]) {
    try {
      const backend = await createBackend(name, name === spec.name ? spec.options : {});
      setBackend(backend);
      return { backend, seed: cfg.seed, fellBackFrom, registry };
    } catch (e) {
      if (!spec.fallback.length) throw e;
      fellBackFrom.push({ name, reason: (e as Error).message });
    }
  }
  throw new KarakoramError('no-backend', `no backend could be created:\n  ${fellBackFrom.map((f) => `${f.name}: ${f.reason}`).join('\n  ')}`, 'backend');
}
