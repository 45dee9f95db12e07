import { beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError, KarakoramError, Registry, createBackend, createRuntime, getBackend, registry, type Backend,
} from '../src/index.js';
import { registerCpu } from './cpu.js';

let made = 0;
beforeAll(() => {
  registerCpu(registry);
  registry.register('backend', 'broken', () => {
    throw new Error('no adapter found');
  });
  registry.register('backend', 'counting', async (o: Record<string, unknown>) => {
    made++;
    const { createCpuBackend } = await import('../../backend-cpu/src/index.js');
    return createCpuBackend(o);
  });
});

describe('registry', () => {
  it('an unknown name lists the known ones', () => {
    const r = new Registry();
    r.register('optimizer', 'muon', () => 1);
    r.register('optimizer', 'adamw', () => 2);
    expect(r.get<() => number>('optimizer', 'adamw')()).toBe(2);
    expect(() => r.get('optimizer', 'sgd')).toThrow(KarakoramError);
    expect(() => r.get('optimizer', 'sgd')).toThrow('registry.optimizer: no optimizer named "sgd" is registered (known: muon, adamw)');
    expect(() => r.get('layer', 'mla')).toThrow(/no layer named "mla" is registered$/);
    expect(r.names('optimizer')).toEqual(['muon', 'adamw']);
    expect(r.has('optimizer', 'muon')).toBe(true);
  });

  it('createBackend by name, and an unavailable one names its package and the registered ones', async () => {
    const b = await createBackend('cpu');
    expect(b.name).toBe('cpu');
    const e = await createBackend('nope').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KarakoramError);
    expect((e as KarakoramError).code).toBe('unknown-backend');
    expect((e as Error).message).toContain('@karakoram/backend-nope');
    expect((e as Error).message).toMatch(/registered: .*cpu/);
  });

  it('createRuntime sets the default backend and the seed', async () => {
    const rt = await createRuntime({ backend: 'cpu', seed: 7 });
    expect(rt.backend.name).toBe('cpu');
    expect(rt.seed).toBe(7);
    expect(rt.fellBackFrom).toEqual([]);
    expect(getBackend()).toBe(rt.backend);
    const defaults = await createRuntime();
    expect(defaults.backend.name).toBe('cpu');
    expect(defaults.seed).toBe(0);
  });

  it('falls back along the list, saying why each one failed', async () => {
    const rt = await createRuntime({ backend: { name: 'broken', fallback: ['nope', 'cpu'] } });
    expect(rt.backend.name).toBe('cpu');
    expect(rt.fellBackFrom.map((f) => f.name)).toEqual(['broken', 'nope']);
    expect(rt.fellBackFrom[0]!.reason).toContain('no adapter found');
    expect(rt.fellBackFrom[1]!.reason).toContain('@karakoram/backend-nope');
  });

  it('without a fallback the failure itself surfaces; when every one fails, all reasons are listed', async () => {
    await expect(createRuntime({ backend: 'broken' })).rejects.toThrow('no adapter found');
    const e = (await createRuntime({ backend: { name: 'broken', fallback: ['nope'] } }).catch((x: unknown) => x)) as KarakoramError;
    expect(e).toBeInstanceOf(KarakoramError);
    expect(e.code).toBe('no-backend');
    expect(e.message).toContain('broken: no adapter found');
    expect(e.message).toContain('nope: ');
  });

  it('passes options to the chosen backend only', async () => {
    const rt = await createRuntime({ backend: { name: 'counting', options: { describe: 'custom cpu' } } });
    expect(rt.backend.describe()).toBe('custom cpu');
  });
});

describe('a bad runtime config fails before any work, naming the field and what was expected', () => {
  const bad = async (config: unknown): Promise<ConfigError> => {
    const e = await createRuntime(config as never).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  };

  it('a negative or fractional seed', async () => {
    const madeBefore = made;
    const e = await bad({ backend: 'counting', seed: -1 });
    expect(made, 'the backend factory never ran').toBe(madeBefore);
    expect(e.issues).toEqual([{ path: 'seed', message: expect.stringMatching(/greater than or equal to 0/) }]);
    expect(e.message).toMatch(/^runtime config: invalid configuration:\n {2}seed: /);
    expect((await bad({ seed: 1.5 })).message).toMatch(/seed: expected integer, got float|seed: .*integer/);
  });

  it('a backend of the wrong type says which types are accepted', async () => {
    const e = await bad({ backend: 42 });
    expect(e.issues).toEqual([{ path: 'backend', message: 'expected string or object, got number' }]);
  });

  it('a bad field inside the backend object is named by its full path', async () => {
    const e = await bad({ backend: { name: 'cpu', fallback: 'webgpu' } });
    expect(e.issues).toEqual([{ path: 'backend.fallback', message: 'expected array, got string' }]);
    const u = await bad({ backend: { name: 'cpu', colour: 1 } });
    expect(u.issues).toEqual([{ path: 'backend', message: 'unknown key(s) "colour"' }]);
  });

  it('every problem is listed in one message', async () => {
    const madeBefore = made;
    const e = await bad({ seed: 'x', backend: { fallback: [1] } });
    expect(e.issues.map((i) => i.path).sort()).toEqual(['backend.fallback.0', 'backend.name', 'seed']);
    expect(e.message.split('\n')).toHaveLength(4);
    expect(e.message).toContain('backend.name: required string is missing');
    expect(e.message).toContain('backend.fallback.0: expected string, got number');
    expect(e.message).toContain('seed: expected number, got string');
    expect(made).toBe(madeBefore);
  });
});

export type { Backend };
