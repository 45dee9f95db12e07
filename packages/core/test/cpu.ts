/**
 * The cpu backend for core's tests, imported from its sources: core cannot list it as a
 * devDependency (turbo refuses the core <-> backend-cpu cycle), and tests run on sources anyway.
 */
import { setBackend, type Backend } from '../src/index.js';
import { createCpuBackend, register } from '../../backend-cpu/src/index.js';

export { register as registerCpu };

export async function useCpu(): Promise<Backend> {
  const b = await createCpuBackend();
  setBackend(b);
  return b;
}
