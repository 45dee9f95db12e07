import type { Backend, Storage } from './backend.js';
import { KarakoramError } from './errors.js';
import type { Tensor } from './tensor.js';

/** Reference-counted storage: reshapes share it; the last holder frees it. */
export class StorageRef {
  refs = 1;
  constructor(readonly backend: Backend, readonly storage: Storage) {}
  /** Adds a holder (a view sharing this storage); returns this for chaining. */
  retain(): this {
    this.refs++;
    return this;
  }
  /** Drops a holder; the last release disposes the storage on its backend. */
  release(): void {
    if (--this.refs === 0) this.backend.dispose(this.storage);
  }
}

interface Scope {
  tensors: Tensor[];
}

/**
 * Process-wide state: the default backend, the stack of tidy scopes and the autodiff tape.
 * Kept in one object so tests and apps can see and reset it.
 */
class Engine {
  private backend: Backend | undefined;
  readonly scopes: Scope[] = [];
  nextId = 1;

  setBackend(b: Backend): void {
    this.backend = b;
  }
  getBackend(): Backend {
    if (!this.backend) {
      throw new KarakoramError(
        'no-backend',
        'no backend is set: call setBackend(await createBackend("cpu")) or createRuntime({ backend: "cpu" }) first',
      );
    }
    return this.backend;
  }
  hasBackend(): boolean {
    return this.backend !== undefined;
  }
  track(t: Tensor): void {
    const s = this.scopes[this.scopes.length - 1];
    if (s) s.tensors.push(t);
  }
}

/** The process-wide Engine: default backend, tidy scopes and tensor ids. */
export const engine = new Engine();

/** Makes `b` the default backend for ops that are not given one. */
export function setBackend(b: Backend): void {
  engine.setBackend(b);
}
/** The default backend; throws if none has been set (see setBackend / createRuntime). */
export function getBackend(): Backend {
  return engine.getBackend();
}

type Nested = Tensor | readonly Nested[] | { readonly [k: string]: Nested } | unknown;

function collect(result: Nested, out: Set<Tensor>, seen = new Set<unknown>()): void {
  if (result === null || typeof result !== 'object' || seen.has(result)) return;
  seen.add(result);
  if ((result as Tensor).isTensor === true) {
    out.add(result as Tensor);
    return;
  }
  if (Array.isArray(result)) for (const r of result) collect(r, out, seen);
  else if (result instanceof Map) for (const r of result.values()) collect(r, out, seen);
  else if (Object.getPrototypeOf(result) === Object.prototype) for (const r of Object.values(result)) collect(r, out, seen);
}

/**
 * Runs fn and disposes every tensor it created, except the tensors in its result (found in
 * arrays, Maps and plain objects) and those marked with keep(). Nested scopes hand their
 * survivors to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { tensors: [] };
  engine.scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    engine.scopes.pop();
    for (const t of scope.tensors) if (!t.kept) t.dispose();
    throw e;
  }
  engine.scopes.pop();
  if (result instanceof Promise) {
    throw new KarakoramError('tidy', 'tidy() got an async function; await outside tidy and tidy each synchronous step');
  }
  const keepers = new Set<Tensor>();
  collect(result, keepers);
  for (const t of scope.tensors) {
    if (keepers.has(t)) engine.track(t);
    else if (!t.kept) t.dispose();
  }
  return result;
}

/** Exempts a tensor from disposal by enclosing tidy scopes. */
export function keep<T extends Tensor>(t: T): T {
  t.kept = true;
  return t;
}
