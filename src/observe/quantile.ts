/**
 * Quantiles from a cumulative histogram, as Prometheus's histogram_quantile() estimates
 * them: find the bucket the rank falls in and interpolate linearly inside it (from 0 for
 * the first bucket). A rank in the +Inf bucket gives the highest finite bound, since
 * nothing is known above it.
 */

/**
 * The `q` quantile (0..1) of a histogram with upper bounds `bounds` (ascending, the last
 * +Inf) and cumulative counts `cumulative` (same length); NaN when it counts nothing.
 */
export function histogramQuantile(q: number, bounds: readonly number[], cumulative: readonly number[]): number {
  const total = cumulative.at(-1) ?? 0;
  if (!(total > 0)) return Number.NaN;
  const rank = q * total;
  const bucket = cumulative.findIndex((count) => count >= rank);
  if (bucket < 0 || bucket >= bounds.length - 1) return bounds.at(-2) ?? Number.NaN;
  const upper = bounds[bucket] as number;
  const lower = bucket === 0 ? 0 : (bounds[bucket - 1] as number);
  const before = bucket === 0 ? 0 : (cumulative[bucket - 1] as number);
  const inBucket = (cumulative[bucket] as number) - before;
  return inBucket > 0 ? lower + ((upper - lower) * (rank - before)) / inBucket : upper;
}
