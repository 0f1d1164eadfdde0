import {
  crowdingDistance,
  dominance,
  hypervolume,
  nonDominated,
  nonDominatedSort,
  violation,
} from '../../../src/search/pareto';
import { Rng } from '../../../src/search/rng';

describe('Pareto tools', () => {
  it('compares by dominance', () => {
    expect(dominance([1, 2], [2, 3])).toBe(1);
    expect(dominance([2, 3], [1, 2])).toBe(-1);
    expect(dominance([1, 3], [2, 2])).toBe(0);
    expect(dominance([1, 2], [1, 2])).toBe(0);
    expect(dominance([1, 2], [1, 3])).toBe(1);
  });

  it('sorts into non-dominated fronts', () => {
    const F = [
      [1, 5],
      [2, 2],
      [5, 1],
      [3, 3],
      [4, 4],
      [2, 6],
      [6, 6],
    ];
    expect(nonDominatedSort(F)).toEqual([[0, 1, 2], [3, 5], [4], [6]]);
    expect(nonDominated(F)).toEqual([0, 1, 2]);
    expect(nonDominatedSort(F, 3)).toEqual([[0, 1, 2]]);
  });

  it('computes pymoo crowding distances (boundaries infinite, duplicates zero)', () => {
    const cd = crowdingDistance([
      [0, 4],
      [1, 2],
      [3, 1],
      [4, 0],
      [1, 2],
    ]);
    expect(cd[0]).toBe(Infinity);
    expect(cd[3]).toBe(Infinity);
    // point (1,2): neighbours (0,4) and (3,1) -> (3-0)/4 + (4-1)/4, over 2 objectives
    expect(cd[1]).toBeCloseTo((3 / 4 + 3 / 4) / 2, 12);
    expect(cd[2]).toBeCloseTo((3 / 4 + 2 / 4) / 2, 12);
    expect(cd[4]).toBe(0);
  });

  it('sums positive constraint parts', () => {
    expect(violation([-1, 0, 2, 0.5])).toBe(2.5);
    expect(violation([])).toBe(0);
  });

  it('computes exact 2-D hypervolume', () => {
    expect(hypervolume([[1, 1]], [2, 2])).toBe(1);
    // strips x in [0, .5], [.5, 1], [1, 2] reach down to y = 1, .5, 0; (2, 2) adds nothing
    const strips = 0.5 * (2 - 1) + 0.5 * (2 - 0.5) + 1 * (2 - 0);
    expect(
      hypervolume(
        [
          [0, 1],
          [1, 0],
          [0.5, 0.5],
          [2, 2],
        ],
        [2, 2],
      ),
    ).toBeCloseTo(strips, 12);
    expect(hypervolume([[3, 0]], [2, 2])).toBe(0);
  });

  it('computes exact 3-D hypervolume (inclusion-exclusion and a Monte Carlo check)', () => {
    const ref = [1, 1, 1];
    const a = [0.2, 0.5, 0.4];
    const b = [0.5, 0.1, 0.6];
    const vol = (p: number[]) => p.reduce((s, v, k) => s * (ref[k] - v), 1);
    const inter = vol(a.map((v, k) => Math.max(v, b[k])));
    expect(hypervolume([a, b], ref)).toBeCloseTo(vol(a) + vol(b) - inter, 12);

    const rng = new Rng([9, 8, 7, 6]);
    const pts = Array.from({ length: 12 }, () => [rng.random(), rng.random(), rng.random()]);
    const exact = hypervolume(pts, ref);
    let inside = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const q = [rng.random(), rng.random(), rng.random()];
      if (pts.some((p) => p[0] <= q[0] && p[1] <= q[1] && p[2] <= q[2])) inside++;
    }
    expect(Math.abs(exact - inside / n)).toBeLessThan(0.005);
  });
});
