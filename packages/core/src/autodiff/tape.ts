import { engine, tidy } from '../engine.js';
import { KarakoramError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor.js';

/**
 * One recorded op. `vjp` maps the output cotangent to one cotangent per input (null where the
 * input needs none). Rules live in rules.ts, one per primitive, and are written with the same
 * frontend ops, so every backend differentiates the same way.
 */
export interface Node {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly vjp: (dy: Tensor) => readonly (Tensor | null)[];
  /** Set on every output of a multi-output op (recordGroup); `vjp` is then unused. */
  readonly group?: NodeGroup;
}

/**
 * One op with several outputs (split): the tape calls `vjp` once with every output's cotangent
 * (null for outputs with none), so the rule can build the input's gradient in one piece instead
 * of one full-size padded tensor per output summed together.
 */
export interface NodeGroup {
  readonly outputs: readonly Tensor[];
  readonly vjp: (dys: readonly (Tensor | null)[]) => readonly (Tensor | null)[];
  done?: boolean;
}

let recording = 0;
let nextNodeId = 1;

/** True inside valueAndGrads/vjp while the tape records (and not inside noGrad). */
export const isRecording = (): boolean => recording > 0;

export const isTracked = (t: Tensor): boolean => t.watched || t.node !== undefined;

/** Called by ops: attaches a node to `out` when the tape records and an input is tracked. */
export function record(op: string, inputs: readonly Tensor[], out: Tensor, vjp: Node['vjp']): Tensor {
  if (recording > 0 && out.dtype === 'f32' && inputs.some(isTracked)) {
    out.node = { id: nextNodeId++, op, inputs, vjp };
  }
  return out;
}

/**
 * The multi-output form of record(): attaches one shared group to every output. Backward
 * visits nodes in reverse creation order and every consumer of any output was created after all
 * of them, so when the first member is visited the cotangents of all members are complete.
 */
export function recordGroup(op: string, inputs: readonly Tensor[], outs: readonly Tensor[], vjp: NodeGroup['vjp']): void {
  if (recording > 0 && outs.every((o) => o.dtype === 'f32') && inputs.some(isTracked)) {
    const group: NodeGroup = { outputs: outs, vjp };
    const unused = (): never => { throw new KarakoramError('autodiff', `${op}: a grouped node's own vjp is never called`); };
    for (const o of outs) o.node = { id: nextNodeId++, op, inputs, vjp: unused, group };
  }
}

/** Runs fn with the tape off (used for optimizer updates and by backward itself). */
export function noGrad<T>(fn: () => T): T {
  const saved = recording;
  recording = 0;
  try {
    return fn();
  } finally {
    recording = saved;
  }
}

/**
 * Reverse pass from `y` (a scalar, or any tensor with an explicit seed `dy`) to `wrt`.
 * Nodes are visited in reverse creation order, which is a topological order of the tape.
 */
function backward(y: Tensor, wrt: readonly Tensor[], dy: Tensor): (Tensor | null)[] {
  const grads = new Map<Tensor, Tensor>();
  grads.set(y, dy);
  const nodes = new Map<number, { node: Node; out: Tensor }>();
  const stack: Tensor[] = [y];
  const seen = new Set<Tensor>();
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (t.node) {
      nodes.set(t.node.id, { node: t.node, out: t });
      for (const i of t.node.inputs) stack.push(i);
    }
  }
  const order = [...nodes.keys()].sort((a, b) => b - a);
  for (const id of order) {
    const { node, out } = nodes.get(id)!;
    let inGrads: readonly (Tensor | null)[];
    if (node.group) {
      if (node.group.done) continue;
      node.group.done = true;
      const dys = node.group.outputs.map((o) => grads.get(o) ?? null);
      if (dys.every((d) => d === null)) continue;
      inGrads = node.group.vjp(dys);
    } else {
      const g = grads.get(out);
      if (!g) continue;
      inGrads = node.vjp(g);
    }
    node.inputs.forEach((inp, k) => {
      const gi = inGrads[k];
      if (!gi || !isTracked(inp)) return;
      if (gi.shape.length !== inp.shape.length || gi.shape.some((d, j) => d !== inp.shape[j])) {
        throw new KarakoramError('autodiff', `gradient of ${node.op} input ${k} has shape ${fmtShape(gi.shape)}, expected ${fmtShape(inp.shape)}`);
      }
      const prev = grads.get(inp);
      grads.set(inp, prev ? accumulate(prev, gi) : gi);
    });
  }
  return wrt.map((w) => grads.get(w) ?? null);
}

let accumulate: (a: Tensor, b: Tensor) => Tensor;
let onesLike: (t: Tensor) => Tensor;
let zerosLike: (t: Tensor) => Tensor;
/** ops/ installs the few ops the tape needs (avoids an import cycle). */
export function installTapeOps(ops: { add: typeof accumulate; onesLike: typeof onesLike; zerosLike: typeof zerosLike }): void {
  accumulate = ops.add;
  onesLike = ops.onesLike;
  zerosLike = ops.zerosLike;
}

/** What valueAndGrads returns: fn's result and one gradient per `wrt` tensor, in order. */
export interface ValueAndGrads<T> {
  value: T;
  grads: Tensor[];
}

/**
 * Evaluates fn (which returns a scalar loss, or an object whose `loss` field is one) and the
 * gradient of that loss with respect to each of `wrt`. Every intermediate is freed; the value
 * and the gradients survive. Inputs with no path to the loss get zero gradients.
 */
export function valueAndGrads<T extends Tensor | { loss: Tensor }>(fn: () => T, wrt: readonly Tensor[]): ValueAndGrads<T> {
  return tidy(() => {
    const prevWatched = wrt.map((w) => w.watched);
    for (const w of wrt) w.watched = true;
    recording++;
    let value: T;
    try {
      value = fn();
    } finally {
      recording--;
      wrt.forEach((w, i) => (w.watched = prevWatched[i]!));
    }
    const loss = (value as Tensor).isTensor ? (value as Tensor) : (value as { loss: Tensor }).loss;
    if (loss.size !== 1) throw new KarakoramError('autodiff', `the loss must be a scalar, got shape ${fmtShape(loss.shape)}`);
    for (const w of wrt) w.watched = true;
    let grads: (Tensor | null)[];
    try {
      grads = noGrad(() => backward(loss, wrt, onesLike(loss)));
    } finally {
      wrt.forEach((w, i) => (w.watched = prevWatched[i]!));
    }
    clearTape(loss);
    const out = grads.map((g, i) => g ?? noGrad(() => zerosLike(wrt[i]!)));
    return { value, grads: out };
  });
}

/** Vector-Jacobian product of any tensor-valued fn: returns dy·J for each of wrt. */
export function vjp(fn: () => Tensor, wrt: readonly Tensor[], dy: Tensor): { value: Tensor; grads: Tensor[] } {
  return tidy(() => {
    for (const w of wrt) w.watched = true;
    recording++;
    let value: Tensor;
    try {
      value = fn();
    } finally {
      recording--;
    }
    const grads = noGrad(() => backward(value, wrt, dy));
    for (const w of wrt) w.watched = false;
    clearTape(value);
    return { value, grads: grads.map((g, i) => g ?? noGrad(() => zerosLike(wrt[i]!))) };
  });
}

function clearTape(y: Tensor): void {
  const stack = [y];
  while (stack.length) {
    const t = stack.pop()!;
    if (!t.node) continue;
    const n = t.node;
    t.node = undefined;
    stack.push(...n.inputs);
  }
}

export { engine };
