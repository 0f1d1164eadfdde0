/**
 * Pareto tools on minimisation vectors: dominance, non-dominated sorting, crowding distance
 * (pymoo 0.6 semantics), exact hypervolume for 2 and 3 objectives.
 */

/** 1 if a dominates b, -1 if b dominates a, 0 otherwise (all objectives minimised). */
export function dominance(a: ArrayLike<number>, b: ArrayLike<number>): 1 | -1 | 0 {
  let aBetter = false;
  let bBetter = false;
  for (let k = 0; k < a.length; k++) {
    if (a[k] < b[k]) aBetter = true;
    else if (b[k] < a[k]) bBetter = true;
    if (aBetter && bBetter) return 0;
  }
  if (aBetter) return 1;
  if (bBetter) return -1;
  return 0;
}

/** Fast non-dominated sorting (Deb et al.): fronts of indices, best first. Stops once `stopAfter` are ranked. */
export function nonDominatedSort(F: ArrayLike<number>[], stopAfter = Infinity): number[][] {
  const n = F.length;
  const dominatedBy = new Int32Array(n);
  const dominates: number[][] = Array.from({ length: n }, () => []);
  let current: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const rel = dominance(F[i], F[j]);
      if (rel === 1) {
        dominates[i].push(j);
        dominatedBy[j]++;
      } else if (rel === -1) {
        dominates[j].push(i);
        dominatedBy[i]++;
      }
    }
  }
  for (let i = 0; i < n; i++) if (dominatedBy[i] === 0) current.push(i);
  const fronts: number[][] = [];
  let ranked = 0;
  while (current.length) {
    fronts.push(current);
    ranked += current.length;
    if (ranked >= stopAfter) break;
    const next: number[] = [];
    for (const i of current) {
      for (const j of dominates[i]) if (--dominatedBy[j] === 0) next.push(j);
    }
    current = next;
  }
  return fronts;
}

/** Indices of the non-dominated points among `indices` (all if omitted). O(n * front size). */
export function nonDominated(F: ArrayLike<number>[], indices?: number[]): number[] {
  const idx = indices ?? F.map((_, i) => i);
  // Lexicographic order: a point can only be dominated by one before it.
  const order = [...idx].sort((a, b) => {
    for (let k = 0; k < F[a].length; k++) if (F[a][k] !== F[b][k]) return F[a][k] - F[b][k];
    return a - b;
  });
  const front: number[] = [];
  for (const i of order) {
    if (!front.some((j) => dominance(F[j], F[i]) === 1)) front.push(i);
  }
  return front.sort((a, b) => a - b);
}

/**
 * Crowding distance as pymoo's calc_crowding_distance: boundary points infinite, duplicates of an
 * earlier point 0, the rest the normalised side lengths of the cuboid summed and divided by the
 * number of objectives.
 */
export function crowdingDistance(F: ArrayLike<number>[]): number[] {
  const n = F.length;
  if (n <= 2) return new Array<number>(n).fill(Infinity);
  const m = F[0].length;
  // Duplicates: equal to an earlier point (lexicographic order, ties by index keep the first).
  const lex = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
    for (let k = 0; k < m; k++) if (F[a][k] !== F[b][k]) return F[a][k] - F[b][k];
    return a - b;
  });
  const isDuplicate = new Uint8Array(n);
  for (let r = 1; r < n; r++) {
    let same = true;
    for (let k = 0; k < m && same; k++) same = F[lex[r]][k] === F[lex[r - 1]][k];
    if (same) isDuplicate[lex[r]] = 1;
  }
  const unique: number[] = [];
  for (let i = 0; i < n; i++) if (!isDuplicate[i]) unique.push(i);
  const cd = new Array<number>(n).fill(0);
  const u = unique.length;
  if (u <= 2) {
    for (const i of unique) cd[i] = Infinity;
    return cd;
  }
  const sum = new Float64Array(u);
  for (let k = 0; k < m; k++) {
    const order = Array.from({ length: u }, (_, i) => i).sort(
      (a, b) => F[unique[a]][k] - F[unique[b]][k] || a - b,
    );
    const lo = F[unique[order[0]]][k];
    const hi = F[unique[order[u - 1]]][k];
    const norm = hi - lo;
    for (let r = 0; r < u; r++) {
      const prev = r === 0 ? -Infinity : F[unique[order[r - 1]]][k];
      const next = r === u - 1 ? Infinity : F[unique[order[r + 1]]][k];
      const v = F[unique[order[r]]][k];
      if (norm === 0) continue; // pymoo: a constant objective adds nothing
      sum[order[r]] += (v - prev) / norm + (next - v) / norm;
    }
  }
  for (let r = 0; r < u; r++) cd[unique[r]] = sum[r] / m;
  return cd;
}

/** Total constraint violation: the sum of the positive parts of g (feasible iff 0). */
export function violation(g: ArrayLike<number>): number {
  let v = 0;
  for (let k = 0; k < g.length; k++) if (g[k] > 0) v += g[k];
  return v;
}

function hv2d(points: number[][], ref: number[]): number {
  const pts = points.filter((p) => p[0] < ref[0] && p[1] < ref[1]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let volume = 0;
  let bestY = ref[1];
  for (const p of pts) {
    if (p[1] < bestY) {
      volume += (ref[0] - p[0]) * (bestY - p[1]);
      bestY = p[1];
    }
  }
  return volume;
}

function hv3d(points: number[][], ref: number[]): number {
  const pts = points
    .filter((p) => p[0] < ref[0] && p[1] < ref[1] && p[2] < ref[2])
    .sort((a, b) => a[2] - b[2]);
  let volume = 0;
  const slice: number[][] = [];
  for (let i = 0; i < pts.length; i++) {
    slice.push(pts[i]);
    const zNext = i + 1 < pts.length ? pts[i + 1][2] : ref[2];
    if (zNext > pts[i][2]) volume += hv2d(slice, ref) * (zNext - pts[i][2]);
  }
  return volume;
}

/**
 * Exact hypervolume dominated by `points` (minimisation) and bounded by `reference`; points not
 * strictly better than the reference in every objective add nothing. 1 to 3 objectives.
 */
export function hypervolume(points: ArrayLike<number>[], reference: ArrayLike<number>): number {
  const m = reference.length;
  const pts = points.map((p) => {
    if (p.length !== m) throw new RangeError(`point has ${p.length} objectives, reference has ${m}`);
    return Array.from(p);
  });
  const ref = Array.from(reference);
  if (m === 1) return pts.reduce((best, p) => Math.max(best, ref[0] - p[0]), 0);
  if (m === 2) return hv2d(pts, ref);
  if (m === 3) return hv3d(pts, ref);
  throw new RangeError(`exact hypervolume is implemented for 1 to 3 objectives, not ${m}`);
}
