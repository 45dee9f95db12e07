/**
 * Temperature decay (K2: high temperature early for exploration, lower later for precise
 * answers): exponential from `start` toward `end` with the given half-life in iterations, or
 * linear over `iterations`; constant when only `start` is given.
 */
export type TemperatureSchedule =
  | { kind: 'constant'; start: number }
  | { kind: 'linear'; start: number; end: number; iterations: number }
  | { kind: 'exponential'; start: number; end: number; halfLife: number };

/** The sampling temperature at `iteration` under the schedule. */
export function temperatureAt(s: TemperatureSchedule, iteration: number): number {
  if (s.kind === 'constant') return s.start;
  if (s.kind === 'linear') return s.start + (s.end - s.start) * Math.min(1, iteration / Math.max(1, s.iterations));
  return s.end + (s.start - s.end) * Math.pow(0.5, iteration / s.halfLife);
}
