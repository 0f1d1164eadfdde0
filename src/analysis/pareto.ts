// Two-objective Pareto fronts and hypervolume, with accuracy always maximised.

/** How the first objective is optimised: size is minimised, throughput maximised. */
export type Direction = 'min' | 'max';

/**
 * The non-dominated items in (x, accuracy), accuracy maximised and x minimised or maximised.
 * An item is dominated when another is at least as good in both objectives and strictly
 * better in one; items with identical objectives do not dominate each other, so all of them
 * stay on the front. Items whose x is undefined are ignored. Returned sorted by x ascending.
 */
export function paretoFront<T extends { accuracy: number }>(
  items: readonly T[],
  x: (item: T) => number | undefined,
  direction: Direction,
): T[] {
  const sign = direction === 'min' ? 1 : -1;
  // c is the objective turned into one to minimise.
  const pts = items
    .map((item) => ({ item, c: x(item), a: item.accuracy }))
    .filter((p): p is { item: T; c: number; a: number } => p.c !== undefined && Number.isFinite(p.c))
    .map((p) => ({ ...p, c: sign * p.c }))
    .sort((p, q) => p.c - q.c || q.a - p.a);
  const front: T[] = [];
  let bestBefore = Number.NEGATIVE_INFINITY; // best accuracy among strictly smaller c
  let i = 0;
  while (i < pts.length) {
    let j = i;
    while (j < pts.length && pts[j].c === pts[i].c) j++;
    const groupBest = pts[i].a; // sorted by accuracy descending within a group
    for (let k = i; k < j; k++) {
      if (pts[k].a === groupBest && pts[k].a > bestBefore) front.push(pts[k].item);
    }
    bestBefore = Math.max(bestBefore, groupBest);
    i = j;
  }
  return direction === 'min' ? front : front.reverse();
}

/**
 * The area of the (x, accuracy) region that `points` dominate, bounded by the reference point
 * (refX, refAccuracy): x minimised, accuracy maximised; points not strictly better than the
 * reference in both objectives add nothing.
 */
export function hypervolume2d(
  points: readonly { x: number; accuracy: number }[],
  refX: number,
  refAccuracy: number,
): number {
  const inside = points.filter((p) => p.x < refX && p.accuracy > refAccuracy);
  const front = paretoFront(inside, (p) => p.x, 'min'); // x ascending, accuracy ascending
  let area = 0;
  let prevAccuracy = refAccuracy;
  for (const p of front) {
    if (p.accuracy <= prevAccuracy) continue; // a duplicate of the previous point
    area += (refX - p.x) * (p.accuracy - prevAccuracy);
    prevAccuracy = p.accuracy;
  }
  return area;
}
