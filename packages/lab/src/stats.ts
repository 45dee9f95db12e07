/** Mean, sample standard deviation and range of a few seeds' numbers. */
export interface Spread {
  n: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

/** Count, mean, standard deviation, min and max of a sample. */
export function spread(xs: readonly number[]): Spread {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, std, min: Math.min(...xs), max: Math.max(...xs) };
}

/**
 * The lab's noise rule: a difference of means smaller than the sum of the two standard
 * deviations is "within noise". With 2-3 seeds this is a rough screen, not a significance test.
 */
export function withinNoise(a: Spread, b: Spread): boolean {
  return Math.abs(a.mean - b.mean) < a.std + b.std;
}

/**
 * The x at which a decreasing curve first reaches y (linear interpolation in log x between the
 * bracketing points); undefined if it never gets there or is already below at its first point.
 */
export function reachAt(points: readonly (readonly [number, number])[], y: number): number | undefined {
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1]!;
    const [x1, y1] = points[i]!;
    if (y0 >= y && y1 <= y) {
      const t = y0 === y1 ? 0 : (y0 - y) / (y0 - y1);
      return Math.exp(Math.log(x0) + t * (Math.log(x1) - Math.log(x0)));
    }
  }
  return undefined;
}
