import { KarakoramError } from '@karakoram/core';

/**
 * Learning-rate schedules as pure functions of the step (0-based). WSD is K2's pre-training
 * schedule: linear warm-up, a long constant stage, then a cosine decay to `minLr`.
 */
export type ScheduleSpec =
  | { kind: 'constant'; lr: number; warmupSteps?: number }
  | { kind: 'cosine'; lr: number; minLr?: number; warmupSteps?: number; totalSteps: number }
  | { kind: 'wsd'; lr: number; minLr?: number; warmupSteps?: number; decaySteps: number; totalSteps: number };

/** The learning rate at 0-based `step` under `spec` (linear warm-up first, then the schedule's shape). */
export function lrAt(spec: ScheduleSpec, step: number): number {
  const warm = spec.warmupSteps ?? 0;
  if (step < warm) return (spec.lr * (step + 1)) / warm;
  const minLr = 'minLr' in spec ? spec.minLr ?? 0 : 0;
  const cosineFrom = (start: number, len: number): number => {
    const t = Math.min(1, Math.max(0, (step - start) / Math.max(1, len)));
    return minLr + 0.5 * (spec.lr - minLr) * (1 + Math.cos(Math.PI * t));
  };
  switch (spec.kind) {
    case 'constant':
      return spec.lr;
    case 'cosine':
      return cosineFrom(warm, spec.totalSteps - warm);
    case 'wsd': {
      if (spec.decaySteps > spec.totalSteps - warm) throw new KarakoramError('schedule', `decaySteps ${spec.decaySteps} exceeds the ${spec.totalSteps - warm} steps after warm-up`, 'schedule.wsd');
      const decayStart = spec.totalSteps - spec.decaySteps;
      return step < decayStart ? spec.lr : cosineFrom(decayStart, spec.decaySteps);
    }
  }
}
