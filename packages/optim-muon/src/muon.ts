import {
  KarakoramError,
  MismatchError,
  Module,
  fmtShape,
  keep,
  noGrad,
  ops,
  tidy,
  type NamedParameter,
  type Tensor,
} from '@karakoram/core';
import { newtonSchulz5 } from './newton-schulz.js';
import { compilePattern, matchesAny, routeParameter, type NamePattern, type Route } from './routing.js';

const { add, concat, div, mul, reshape, slice, sqrt, square, sub, tensor, zerosLike } = ops;

/** Per-name hyperparameters; the first rule whose patterns match a parameter's name applies. */
export interface ParamGroupRule {
  /** Name patterns (globs, or `/regex/`); see NamePattern. */
  match: NamePattern[];
  /** Multiplies the step's lr for these parameters (1). */
  lrScale?: number;
  /** Replaces the weight decay for these parameters. */
  weightDecay?: number;
}

/** Muon options: the Muon part (momentum, Newton-Schulz, update scale), the AdamW part, and which parameters go where. */
export interface MuonOptions {
  /** Learning rate, shared by the Muon and AdamW parameters (Moonlight form). Required. */
  lr: number;
  /** Muon momentum mu (0.95). */
  momentum?: number;
  /** Nesterov momentum: orthogonalize G + mu*M (true) instead of M (false). */
  nesterov?: boolean;
  /** Decoupled weight decay for both parts: W *= 1 - lr*wd (0.1). */
  weightDecay?: number;
  /** Newton-Schulz iterations (5). */
  nsSteps?: number;
  /** Newton-Schulz precision: 'f32' (default) or 'bf16' (emulated; see newtonSchulz5). */
  nsDtype?: 'f32' | 'bf16';
  /** Muon update scale factor s in lr*s*sqrt(max(rows, cols)) (0.2: matches AdamW's update RMS). */
  muonUpdateScale?: number;
  /** AdamW betas (0.9, 0.95). */
  adamBetas?: readonly [number, number];
  /** AdamW epsilon (1e-8), added to sqrt(v). */
  adamEps?: number;
  /** Names forced to Muon (globs or `/regex/`), over the role rule. */
  muon?: NamePattern[];
  /** Names forced to AdamW (globs or `/regex/`), over the role rule. */
  adamw?: NamePattern[];
  /** Per-name lr multipliers and weight decays. */
  groups?: ParamGroupRule[];
}

/** What step() reports. */
export interface MuonStepInfo {
  /** Steps taken so far, this one included. */
  step: number;
  /** The lr this step used (before group multipliers). */
  lr: number;
}

/** Gradients: a Map from parameter tensor to its gradient, or an array aligned with `params`. */
export type Gradients = ReadonlyMap<Tensor, Tensor> | readonly (Tensor | null | undefined)[];

interface Slot {
  name: string;
  tensor: Tensor;
  route: Exclude<Route, 'none'>;
  lrScale: number;
  weightDecay: number;
  /** Muon: M. */
  momentum?: Tensor;
  /** AdamW: m, v, and the per-parameter step count (a parameter without a gradient does not advance). */
  expAvg?: Tensor;
  expAvgSq?: Tensor;
  steps: number;
  stepTensor?: Tensor;
}

const isModule = (p: unknown): p is Module => p instanceof Module || typeof (p as Module)?.namedParameters === 'function';

function checkNumber(name: string, v: number, lo: number, hi = Infinity, hiOpen = false): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
    throw new KarakoramError('config', `${name} must be a finite number in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${String(v)}`, 'Muon options');
  }
}

/**
 * Muon in the Moonlight form (the one Kimi K2 uses), with AdamW for everything Muon does not take.
 *
 * Routing (see routeParameter): role 'matrix' with rank >= 2 → Muon; roles 'embedding', 'head',
 * 'norm', 'bias' → AdamW; role 'buffer' → skipped (not trained by gradient; the MoE router bias
 * moves by the aux-loss-free rule, see auxLossFreeBiasUpdate). `muon` / `adamw` name patterns
 * override the role rule.
 *
 * Muon, per matrix W with gradient G (rows x cols = the last two dims):
 *   M = mu*M + G;  G' = G + mu*M (nesterov) or M;  O = NS5(G');
 *   W = W*(1 - lr*wd) - lr*0.2*sqrt(max(rows, cols))*O
 * AdamW, per other parameter, with its own step count t:
 *   m = b1*m + (1-b1)*G;  v = b2*v + (1-b2)*G²;
 *   W = W*(1 - lr*wd);  W -= lr * (m/(eps + sqrt(v))) * sqrt(1 - b2^t)/(1 - b1^t)
 *
 * Memory: every update runs in a tidy scope; state tensors are replaced with assign(), which frees
 * the old values. The gradients belong to the caller (step() does not dispose them).
 */
export class Muon {
  /** The trainable parameters (buffers excluded) in namedParameters() order: pass these to valueAndGrads. */
  readonly params: readonly Tensor[];
  /** Their names, aligned with `params`. */
  readonly names: readonly string[];
  /** The default lr, used by step() when none is given. */
  lr: number;
  readonly options: Readonly<Required<Omit<MuonOptions, 'muon' | 'adamw' | 'groups'>>> & Pick<MuonOptions, 'muon' | 'adamw' | 'groups'>;
  private readonly slots: Slot[];
  private readonly byTensor = new Map<Tensor, Slot>();
  private readonly skipped: string[] = [];
  private readonly skippedTensors = new Set<Tensor>();
  private steps = 0;
  private readonly stepTensor: Tensor;
  private disposed = false;

  constructor(params: Module | readonly NamedParameter[], options: MuonOptions) {
    if (!options || typeof options !== 'object') throw new KarakoramError('config', 'options with at least { lr } are required', 'Muon');
    const o = {
      lr: options.lr,
      momentum: options.momentum ?? 0.95,
      nesterov: options.nesterov ?? true,
      weightDecay: options.weightDecay ?? 0.1,
      nsSteps: options.nsSteps ?? 5,
      nsDtype: options.nsDtype ?? 'f32',
      muonUpdateScale: options.muonUpdateScale ?? 0.2,
      adamBetas: options.adamBetas ?? ([0.9, 0.95] as const),
      adamEps: options.adamEps ?? 1e-8,
      muon: options.muon,
      adamw: options.adamw,
      groups: options.groups,
    };
    checkNumber('lr', o.lr, 0);
    checkNumber('momentum', o.momentum, 0, 1, true);
    checkNumber('weightDecay', o.weightDecay, 0);
    checkNumber('muonUpdateScale', o.muonUpdateScale, 0);
    checkNumber('adamBetas[0]', o.adamBetas[0], 0, 1, true);
    checkNumber('adamBetas[1]', o.adamBetas[1], 0, 1, true);
    checkNumber('adamEps', o.adamEps, 0);
    if (!Number.isInteger(o.nsSteps) || o.nsSteps < 0) throw new KarakoramError('config', `nsSteps must be an integer >= 0, got ${o.nsSteps}`, 'Muon options');
    if (o.nsDtype !== 'f32' && o.nsDtype !== 'bf16') throw new KarakoramError('config', `nsDtype must be 'f32' or 'bf16', got ${String(o.nsDtype)}`, 'Muon options');
    this.options = o;
    this.lr = o.lr;

    const named = isModule(params) ? params.namedParameters() : [...params];
    if (named.length === 0) throw new KarakoramError('config', 'no parameters to optimize', 'Muon');
    const muonRe = (o.muon ?? []).map(compilePattern);
    const adamRe = (o.adamw ?? []).map(compilePattern);
    const groups = (o.groups ?? []).map((g, i) => {
      if (g.lrScale !== undefined) checkNumber(`groups[${i}].lrScale`, g.lrScale, 0);
      if (g.weightDecay !== undefined) checkNumber(`groups[${i}].weightDecay`, g.weightDecay, 0);
      return { res: g.match.map(compilePattern), rule: g, used: false };
    });
    const seen = new Set<string>();
    const seenTensors = new Set<Tensor>();
    this.slots = [];
    for (const p of named) {
      if (seen.has(p.name)) throw new KarakoramError('config', `parameter name ${p.name} appears twice`, 'Muon');
      seen.add(p.name);
      if (seenTensors.has(p.tensor)) throw new KarakoramError('config', `tensor of ${p.name} appears under two names (tied weights: pass it once)`, 'Muon');
      seenTensors.add(p.tensor);
      const route = routeParameter(p, muonRe, adamRe);
      if (route === 'none' || p.trainable === false) {
        this.skipped.push(p.name);
        this.skippedTensors.add(p.tensor);
        continue;
      }
      if (p.tensor.dtype !== 'f32') throw new KarakoramError('dtype', `${p.name} is ${p.tensor.dtype}; only f32 parameters are trained`, 'Muon');
      const g = groups.find((gr) => matchesAny(p.name, gr.res));
      if (g) g.used = true;
      const slot: Slot = {
        name: p.name,
        tensor: p.tensor,
        route,
        lrScale: g?.rule.lrScale ?? 1,
        weightDecay: g?.rule.weightDecay ?? o.weightDecay,
        steps: 0,
      };
      if (route === 'muon') {
        slot.momentum = keep(zerosLike(p.tensor));
      } else {
        slot.expAvg = keep(zerosLike(p.tensor));
        slot.expAvgSq = keep(zerosLike(p.tensor));
        slot.stepTensor = keep(tensor(0, [], 'i32', p.tensor.backend));
      }
      this.slots.push(slot);
      this.byTensor.set(p.tensor, slot);
    }
    const unused = [
      ...(o.muon ?? []).filter((_, i) => !named.some((p) => muonRe[i]!.test(p.name))).map((s) => `muon pattern ${s}`),
      ...(o.adamw ?? []).filter((_, i) => !named.some((p) => adamRe[i]!.test(p.name))).map((s) => `adamw pattern ${s}`),
      ...groups.filter((g) => !g.used).map((g) => `group [${g.rule.match.join(', ')}]`),
    ];
    if (unused.length) throw new KarakoramError('config', `matches no trainable parameter: ${unused.join('; ')}`, 'Muon options');
    this.params = this.slots.map((s) => s.tensor);
    this.names = this.slots.map((s) => s.name);
    this.stepTensor = keep(tensor(0, [], 'i32', named[0]!.tensor.backend));
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** Each parameter's route ('none' for skipped buffers), in namedParameters() order of the trained ones first. */
  routes(): { name: string; route: Route; shape: readonly number[] }[] {
    return [
      ...this.slots.map((s) => ({ name: s.name, route: s.route as Route, shape: s.tensor.shape })),
      ...this.skipped.map((name) => ({ name, route: 'none' as Route, shape: [] as readonly number[] })),
    ];
  }

  /**
   * One update of every parameter that has a gradient. `grads` is a Map from parameter tensor to
   * gradient (parameters missing from it are left alone, their AdamW step count included) or an
   * array aligned with `params` (null/undefined entries are skipped). `lr` overrides the default lr
   * for this step only (schedules). The gradients are not disposed.
   */
  step(grads: Gradients, lr: number = this.lr): MuonStepInfo {
    if (this.disposed) throw new KarakoramError('disposed', 'this optimizer was disposed', 'Muon.step');
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new KarakoramError('args', `lr must be a finite number >= 0, got ${String(lr)}`, 'Muon.step');
    const gradOf = this.resolve(grads);
    noGrad(() => {
      const muon: { s: Slot; g: Tensor }[] = [];
      for (const s of this.slots) {
        const g = gradOf(s);
        if (!g) continue;
        if (g.dtype !== 'f32' || g.shape.length !== s.tensor.shape.length || g.shape.some((d, i) => d !== s.tensor.shape[i])) {
          throw new KarakoramError('args', `gradient for ${s.name} is ${g.dtype}${fmtShape(g.shape)}, expected f32${fmtShape(s.tensor.shape)}`, 'Muon.step');
        }
        if (s.route === 'muon') muon.push({ s, g });
        else this.adamwUpdate(s, g, lr * s.lrScale);
      }
      this.muonUpdates(muon, lr);
    });
    this.steps++;
    tidy(() => {
      this.stepTensor.assign(tensor(this.steps, [], 'i32', this.stepTensor.backend));
    });
    return { step: this.steps, lr };
  }

  private resolve(grads: Gradients): (s: Slot) => Tensor | undefined {
    if (grads instanceof Map) {
      for (const k of grads.keys()) {
        // Gradients of skipped buffers are ignored; a tensor this optimizer does not know is an error.
        if (!this.byTensor.has(k) && !this.skippedTensors.has(k)) {
          throw new KarakoramError('args', `the gradient map holds a tensor ${k.toString()} that is not a trained parameter of this optimizer`, 'Muon.step');
        }
      }
      return (s) => grads.get(s.tensor) ?? undefined;
    }
    const arr = grads as readonly (Tensor | null | undefined)[];
    if (arr.length !== this.slots.length) {
      throw new KarakoramError('args', `got ${arr.length} gradients, expected ${this.slots.length} (one per entry of optimizer.params)`, 'Muon.step');
    }
    const idx = new Map(this.slots.map((s, i) => [s, i]));
    return (s) => arr[idx.get(s)!] ?? undefined;
  }

  /**
   * The Muon updates. Matrices of the same shape (every expert's gate, up and down projections)
   * are orthogonalized as one stack: newtonSchulz5 treats leading dims as a batch, so this is the
   * same per-matrix result as one call each, with one batched call per shape instead.
   */
  private muonUpdates(jobs: readonly { s: Slot; g: Tensor }[], lr: number): void {
    const { momentum: mu, nesterov, nsSteps, nsDtype, muonUpdateScale } = this.options;
    const groups = new Map<string, { s: Slot; g: Tensor }[]>();
    for (const j of jobs) {
      const shape = j.s.tensor.shape;
      const key = `${shape[shape.length - 2]}x${shape[shape.length - 1]}`;
      const list = groups.get(key);
      if (list) list.push(j);
      else groups.set(key, [j]);
    }
    for (const group of groups.values()) {
      tidy(() => {
        const effs = group.map(({ s, g }) => {
          const M = add(mul(s.momentum!, mu), g);
          s.momentum!.assign(M);
          return nesterov ? add(g, mul(M, mu)) : M;
        });
        const shape = effs[0]!.shape;
        const rows = shape[shape.length - 2]!;
        const cols = shape[shape.length - 1]!;
        let outs: Tensor[];
        if (effs.length === 1) {
          outs = [newtonSchulz5(effs[0]!, { steps: nsSteps, dtype: nsDtype })];
        } else {
          const all = newtonSchulz5(concat(effs.map((e) => reshape(e, [-1, rows, cols])), 0), { steps: nsSteps, dtype: nsDtype });
          let at = 0;
          outs = effs.map((e) => {
            const count = e.size / (rows * cols);
            const o = reshape(slice(all, [at, 0, 0], [count, rows, cols]), e.shape);
            at += count;
            return o;
          });
        }
        group.forEach(({ s }, i) => {
          const lrS = lr * s.lrScale;
          const scale = lrS * muonUpdateScale * Math.sqrt(Math.max(rows, cols));
          s.tensor.assign(sub(mul(s.tensor, 1 - lrS * s.weightDecay), mul(outs[i]!, scale)));
        });
      });
    }
  }

  private adamwUpdate(s: Slot, g: Tensor, lr: number): void {
    const [b1, b2] = this.options.adamBetas;
    const eps = this.options.adamEps;
    const t = s.steps + 1;
    const stepSize = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
    tidy(() => {
      const m = add(mul(s.expAvg!, b1), mul(g, 1 - b1));
      const v = add(mul(s.expAvgSq!, b2), mul(square(g), 1 - b2));
      s.expAvg!.assign(m);
      s.expAvgSq!.assign(v);
      const u = div(m, add(sqrt(v), eps));
      s.tensor.assign(sub(mul(s.tensor, 1 - lr * s.weightDecay), mul(u, stepSize)));
      s.stepTensor!.assign(tensor(t, [], 'i32', s.tensor.backend));
    });
    s.steps = t;
  }

  /**
   * The optimizer state as live tensors (they are replaced, not mutated, by later steps, so
   * serialize them before stepping again; do not dispose them):
   *
   * - `step`: i32 scalar, steps taken;
   * - `<param>.momentum_buffer`: Muon's M, per Muon parameter;
   * - `<param>.exp_avg`, `<param>.exp_avg_sq`: AdamW's m and v, and `<param>.step`: its i32 step
   *   count, per AdamW parameter.
   *
   * Hyperparameters are not part of it: construct the resuming optimizer with the same options.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>([['step', this.stepTensor]]);
    for (const s of this.slots) {
      if (s.route === 'muon') out.set(`${s.name}.momentum_buffer`, s.momentum!);
      else {
        out.set(`${s.name}.exp_avg`, s.expAvg!);
        out.set(`${s.name}.exp_avg_sq`, s.expAvgSq!);
        out.set(`${s.name}.step`, s.stepTensor!);
      }
    }
    return out;
  }

  /**
   * Loads a stateDict() (for example read back from safetensors). Every name, shape and dtype is
   * checked first and the whole dict is refused with the list of mismatches, so nothing is half
   * loaded. Async because the step counters are read back to JS (GPU backends read asynchronously).
   * The loaded tensors' storage is shared, not copied; they must live on this optimizer's backend.
   * Continuing from a loaded state gives bit-identical updates to an uninterrupted run.
   */
  async loadStateDict(state: ReadonlyMap<string, Tensor>): Promise<void> {
    const own = this.stateDict();
    const problems: string[] = [];
    for (const [name, t] of own) {
      const s = state.get(name);
      if (!s) problems.push(`missing ${name} ${fmtShape(t.shape)}`);
      else if (s.disposed) problems.push(`${name} was disposed`);
      else if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) problems.push(`wrong shape for ${name}: ${fmtShape(s.shape)}, expected ${fmtShape(t.shape)}`);
      else if (s.dtype !== t.dtype) problems.push(`wrong dtype for ${name}: ${s.dtype}, expected ${t.dtype}`);
      else if (s.backend !== t.backend) problems.push(`${name} lives on ${s.backend.name}, expected ${t.backend.name}`);
    }
    for (const name of state.keys()) if (!own.has(name)) problems.push(`unexpected ${name}`);
    if (problems.length) throw new MismatchError('Muon.loadStateDict', problems);
    const counter = async (name: string): Promise<number> => {
      const v = (await state.get(name)!.data())[0]!;
      if (!Number.isInteger(v) || v < 0) throw new KarakoramError('state-mismatch', `${name} = ${v} is not a step count`, 'Muon.loadStateDict');
      return v;
    };
    const steps = await counter('step');
    const slotSteps = await Promise.all(this.slots.map((s) => (s.route === 'adamw' ? counter(`${s.name}.step`) : Promise.resolve(0))));
    for (const [name, t] of own) t.assign(state.get(name)!);
    this.steps = steps;
    this.slots.forEach((s, i) => (s.steps = slotSteps[i]!));
  }

  /** Frees the optimizer state (not the parameters). */
  dispose(): void {
    if (this.disposed) return;
    for (const t of this.stateDict().values()) t.dispose();
    this.disposed = true;
  }
}

/**
 * DeepSeek-V3's auxiliary-loss-free balancing, for trainers that hold the router bias themselves:
 * bias_e += u * sign(mean(load) - load_e), where load_e is how many tokens chose expert e in the
 * step. `bias` (role 'buffer', f32 [E]) is updated in place with assign(); `load` is f32 or i32 [E].
 * (DeepSeek-V3: u = 0.001.) A MoE layer may offer the same rule as a method; this helper keeps the
 * optimizer package independent of the layer packages.
 */
export function auxLossFreeBiasUpdate(bias: Tensor, load: Tensor, u: number): void {
  if (bias.rank !== 1 || load.rank !== 1 || bias.shape[0] !== load.shape[0]) {
    throw new KarakoramError('args', `bias ${fmtShape(bias.shape)} and load ${fmtShape(load.shape)} must both be [numExperts]`, 'auxLossFreeBiasUpdate');
  }
  if (!Number.isFinite(u)) throw new KarakoramError('args', `u must be finite, got ${u}`, 'auxLossFreeBiasUpdate');
  noGrad(() =>
    tidy(() => {
      const l = ops.cast(load, 'f32');
      bias.assign(add(bias, mul(ops.sign(sub(ops.mean(l), l)), u)));
    }),
  );
}
