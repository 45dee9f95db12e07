import { KarakoramError, fmtShape } from '../errors.js';
import { keep } from '../engine.js';
import { shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';

/**
 * What a parameter is, so optimizers can route it without guessing from names:
 * 'matrix' (hidden 2-D weights: Muon), 'embedding', 'head' (lm_head), 'norm' (gains), 'bias',
 * 'buffer' (state that is saved but not trained by gradient, e.g. the MoE router's
 * e_score_correction_bias, which moves by the aux-loss-free rule).
 */
export type ParamRole = 'matrix' | 'embedding' | 'head' | 'norm' | 'bias' | 'buffer';

/** A parameter with its full dotted name, its role and whether gradients train it (buffers do not). */
export interface NamedParameter {
  name: string;
  tensor: Tensor;
  role: ParamRole;
  trainable: boolean;
}

/**
 * A tree of named parameters. Names join with '.', so a model's state dict uses the exact
 * Hugging Face tensor names (model.layers.0.self_attn.q_a_proj.weight).
 */
export class Module {
  private readonly params = new Map<string, { tensor: Tensor; role: ParamRole }>();
  private readonly children = new Map<string, Module>();

  /** Registers a parameter under `name` (unique among params and children) and returns it. */
  protected param(name: string, tensor: Tensor, role: ParamRole): Tensor {
    if (this.params.has(name) || this.children.has(name)) throw new KarakoramError('module', `duplicate name "${name}"`);
    keep(tensor);
    this.params.set(name, { tensor, role });
    return tensor;
  }

  /** Registers a submodule under `name`; its parameter names get the `name.` prefix. */
  protected child<M extends Module>(name: string, m: M): M {
    if (this.params.has(name) || this.children.has(name)) throw new KarakoramError('module', `duplicate name "${name}"`);
    this.children.set(name, m);
    return m;
  }

  /** Every parameter of this module and its children, depth first, with dotted names. */
  namedParameters(prefix = ''): NamedParameter[] {
    const out: NamedParameter[] = [];
    for (const [n, p] of this.params) out.push({ name: prefix + n, tensor: p.tensor, role: p.role, trainable: p.role !== 'buffer' });
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** This module and every descendant, with their dotted names ('' for this one). */
  *modules(prefix = ''): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ''), this];
    for (const [n, c] of this.children) yield* c.modules(`${prefix}${n}.`);
  }

  /** The parameter tensors, in namedParameters() order. */
  parameters(): Tensor[] {
    return this.namedParameters().filter((p) => p.trainable).map((p) => p.tensor);
  }

  /** Name to tensor, the names as in an HF checkpoint. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters().map((p) => [p.name, p.tensor]));
  }

  /**
   * Checks every name and shape first and refuses the whole dict with the list of mismatches
   * (missing, unexpected, wrong shape), so nothing is partially loaded.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor>, where = 'state dict'): void {
    const own = this.stateDict();
    const problems: string[] = [];
    for (const [name, t] of own) {
      const s = state.get(name);
      if (!s) problems.push(`missing ${name} ${fmtShape(t.shape)}`);
      else if (!shapesEqual(s.shape, t.shape)) problems.push(`wrong shape for ${name}: ${fmtShape(s.shape)}, expected ${fmtShape(t.shape)}`);
      else if (s.dtype !== t.dtype) problems.push(`wrong dtype for ${name}: ${s.dtype}, expected ${t.dtype}`);
      else if (s.disposed) problems.push(`${name} was already disposed`);
      else if (s.backend !== t.backend) problems.push(`${name} lives on another backend (${s.backend.name}) than the parameter (${t.backend.name})`);
    }
    for (const name of state.keys()) if (!own.has(name)) problems.push(`unexpected ${name}`);
    if (problems.length) throw new MismatchError(where, problems);
    for (const [name, t] of own) t.assign(state.get(name)!);
  }

  /** Frees every parameter tensor. */
  dispose(): void {
    for (const p of this.namedParameters()) p.tensor.dispose();
  }
}

export class MismatchError extends KarakoramError {
  constructor(where: string, readonly problems: string[]) {
    super('state-mismatch', `${problems.length} mismatch(es):\n  ${problems.join('\n  ')}`, where);
    this.name = 'MismatchError';
  }
}
