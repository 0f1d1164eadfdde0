// Percentiles and the "upper p-th percentile" selection used by the layer and width analyses.

/**
 * The q-th percentile (0..100) of `values` by linear interpolation between closest ranks,
 * numpy's default (`method='linear'`): sort ascending, h = (n - 1) * q / 100, and return
 * v[floor(h)] + (h - floor(h)) * (v[floor(h) + 1] - v[floor(h)]).
 */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty list');
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile q must be in [0, 100], got ${q}`);
  if (values.some((v) => !Number.isFinite(v)))
    throw new RangeError('percentile of a list with a non-finite value');
  const sorted = [...values].sort((a, b) => a - b);
  const h = ((sorted.length - 1) * q) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * The items whose accuracy is in the upper p-th percentile: accuracy >= the (100 - p)-th
 * percentile (as `percentile` computes it) of all the items' accuracies. Ties at the threshold
 * are all kept, so the set may hold more than p% of the items; it is never empty for a
 * non-empty input.
 */
export function upperPercentile<T extends { accuracy: number }>(
  items: readonly T[],
  p: number,
): { threshold: number; selected: T[] } {
  if (!(p > 0 && p <= 100)) throw new RangeError(`upper percentile p must be in (0, 100], got ${p}`);
  if (items.length === 0) return { threshold: Number.NaN, selected: [] };
  const threshold = percentile(
    items.map((i) => i.accuracy),
    100 - p,
  );
  return { threshold, selected: items.filter((i) => i.accuracy >= threshold) };
}

/** For each option, the fraction of `values` equal to it (0 for every option when `values` is empty). */
export function optionProbabilities(
  values: readonly number[],
  options: readonly number[],
): Map<number, number> {
  const out = new Map<number, number>();
  for (const o of options)
    out.set(o, values.length ? values.filter((v) => v === o).length / values.length : 0);
  return out;
}
