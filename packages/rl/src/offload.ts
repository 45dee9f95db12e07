/**
 * Moving state between device and host memory for colocation, and measuring it.
 *
 * offload() downloads every tensor of a state map to host typed arrays and disposes the device
 * copies (the tensor objects stay, disposed, where their owner holds them); restore() uploads the
 * values and assign()s them back into the same objects, so an optimizer that holds them never
 * notices. On the cpu backend host and device memory are the same heap, so the effect there is a
 * release and a re-allocation; on webgpu it frees GPU buffers for the inference engine.
 */
import { KarakoramError, wrap, type Backend, type DataArray, type DType, type Tensor } from '@karakoram/core';

/** Live device buffers and their bytes. */
export interface MemorySnapshot {
  buffers: number;
  bytes: number;
}

/** The backend's live buffer count and bytes now. */
export function memoryOf(backend: Backend): MemorySnapshot {
  const m = backend.memory();
  return { buffers: m.buffers, bytes: m.bytes };
}

/** What an offload or restore moved, and how long it took. */
export interface OffloadReport {
  tensors: number;
  bytes: number;
  seconds: number;
}

/** Moves a state map (e.g. optimizer state) to host memory and back, keeping the tensor objects. */
export class HostOffload {
  private host: Map<string, { data: DataArray; dtype: DType }> | undefined;

  constructor(private readonly state: () => Map<string, Tensor>) {}

  get offloaded(): boolean {
    return this.host !== undefined;
  }

  /** Downloads the state to host memory and frees the device copies (no-op when already offloaded). */
  async offload(): Promise<OffloadReport> {
    if (this.host) return { tensors: 0, bytes: 0, seconds: 0 };
    const t0 = performance.now();
    const host = new Map<string, { data: DataArray; dtype: DType }>();
    let bytes = 0;
    const state = this.state();
    for (const [name, t] of state) {
      const data = await t.data();
      // Copy: a backend may hand out a view of its own storage, which dispose() recycles.
      host.set(name, { data: data.slice(), dtype: t.dtype });
      bytes += data.byteLength;
    }
    for (const t of state.values()) t.dispose();
    this.host = host;
    return { tensors: host.size, bytes, seconds: (performance.now() - t0) / 1000 };
  }

  /** Uploads the offloaded values into the same tensor objects on `backend` (no-op when not offloaded). */
  restore(backend: Backend): OffloadReport {
    if (!this.host) return { tensors: 0, bytes: 0, seconds: 0 };
    const t0 = performance.now();
    let bytes = 0;
    for (const [name, t] of this.state()) {
      const h = this.host.get(name);
      if (!h) throw new KarakoramError('offload', `no offloaded value for ${name}`, 'HostOffload.restore');
      const up = wrap(backend, backend.upload(h.data, h.dtype), [...t.shape], h.dtype);
      t.assign(up);
      up.dispose();
      bytes += h.data.byteLength;
    }
    const n = this.host.size;
    this.host = undefined;
    return { tensors: n, bytes, seconds: (performance.now() - t0) / 1000 };
  }
}
