import type { Backend } from '../backend.js';
import { view, wrap, type Tensor } from '../tensor.js';

/**
 * Copies a tensor to another backend (download, then upload): a new tensor the caller owns, with
 * the same shape and dtype; the input is untouched. Async because reading a device backend is.
 * On the tensor's own backend it returns a new tensor sharing the storage (no copy).
 * The result is a leaf: gradients do not flow back across backends.
 */
export async function toBackend(t: Tensor, backend: Backend): Promise<Tensor> {
  if (t.backend === backend) return view(t, t.shape);
  const data = await t.data();
  return wrap(backend, backend.upload(data, t.dtype), [...t.shape], t.dtype);
}
