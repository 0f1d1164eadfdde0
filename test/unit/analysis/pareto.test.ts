import { hypervolume2d, paretoFront } from '../../../src/analysis/pareto';
import { loadCampaignResults } from '../../../src/analysis/load';
import { FIXTURE_PATH } from '../../fixtures/analysis/make-results';

type P = { id: string; x: number; accuracy: number };

/** Brute force: an item is on the front when no other item dominates it. */
function bruteFront(items: P[], dir: 'min' | 'max'): P[] {
  const better = (a: number, b: number) => (dir === 'min' ? a <= b : a >= b);
  const strictly = (a: number, b: number) => (dir === 'min' ? a < b : a > b);
  return items.filter(
    (p) =>
      !items.some(
        (q) =>
          better(q.x, p.x) && q.accuracy >= p.accuracy && (strictly(q.x, p.x) || q.accuracy > p.accuracy),
      ),
  );
}

const ids = (ps: P[]) => ps.map((p) => p.id).sort();

describe('paretoFront', () => {
  it('equals a brute-force front on every task, quantization and space of the stored fixture', () => {
    const { records } = loadCampaignResults(FIXTURE_PATH);
    let checked = 0;
    for (const task of ['mmlu', 'arc_challenge']) {
      for (const quant of ['none', 'int8'] as const) {
        const items = records
          .filter((r) => r.task === task && r.quant === quant && !r.isFull)
          .map((r, i) => ({ id: `${i}`, size: r.sizeBytes, tps: r.throughput, accuracy: r.accuracy }));
        const bySize = items.map((r) => ({ id: r.id, x: r.size, accuracy: r.accuracy }));
        const front = paretoFront(bySize, (p) => p.x, 'min');
        expect(ids(front)).toEqual(ids(bruteFront(bySize, 'min')));
        expect(front.length).toBeGreaterThan(2);
        expect(front.map((p) => p.x)).toEqual([...front.map((p) => p.x)].sort((a, b) => a - b));
        const timed = items
          .filter((r) => r.tps !== undefined)
          .map((r) => ({ id: r.id, x: r.tps as number, accuracy: r.accuracy }));
        expect(ids(paretoFront(timed, (p) => p.x, 'max'))).toEqual(ids(bruteFront(timed, 'max')));
        checked++;
      }
    }
    expect(checked).toBe(4);
  });

  it('keeps identical points, drops equal-x points of lower accuracy, ignores missing x', () => {
    const pts: P[] = [
      { id: 'a', x: 1, accuracy: 0.5 },
      { id: 'b', x: 1, accuracy: 0.5 },
      { id: 'c', x: 1, accuracy: 0.4 },
      { id: 'd', x: 2, accuracy: 0.5 },
      { id: 'e', x: 3, accuracy: 0.7 },
      { id: 'f', x: 0.5, accuracy: 0.2 },
    ];
    expect(ids(paretoFront(pts, (p) => p.x, 'min'))).toEqual(['a', 'b', 'e', 'f']);
    // maximising x: e dominates everything
    expect(ids(paretoFront(pts, (p) => p.x, 'max'))).toEqual(['e']);
    // without e's x, d (x=2, 0.5) dominates the rest when x is maximised
    expect(paretoFront(pts, (p) => (p.id === 'e' ? undefined : p.x), 'max').map((p) => p.id)).toEqual(['d']);
  });

  it('agrees with brute force on random point clouds with many ties', () => {
    // a deterministic LCG; ties come from the coarse grid
    let s = 12345;
    const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let trial = 0; trial < 50; trial++) {
      const pts: P[] = Array.from({ length: 30 }, (_, i) => ({
        id: `${i}`,
        x: Math.floor(next() * 8),
        accuracy: Math.floor(next() * 8) / 8,
      }));
      expect(ids(paretoFront(pts, (p) => p.x, 'min'))).toEqual(ids(bruteFront(pts, 'min')));
      expect(ids(paretoFront(pts, (p) => p.x, 'max'))).toEqual(ids(bruteFront(pts, 'max')));
    }
  });
});

/** Exact area of the union of the dominated boxes, by a compressed grid. */
function bruteHypervolume(points: { x: number; accuracy: number }[], refX: number, refA: number): number {
  const inside = points.filter((p) => p.x < refX && p.accuracy > refA);
  const xs = [...new Set([...inside.map((p) => p.x), refX])].sort((a, b) => a - b);
  const as = [...new Set([refA, ...inside.map((p) => p.accuracy)])].sort((a, b) => a - b);
  let area = 0;
  for (let i = 0; i + 1 < xs.length; i++) {
    for (let j = 0; j + 1 < as.length; j++) {
      const cx = (xs[i] + xs[i + 1]) / 2;
      const ca = (as[j] + as[j + 1]) / 2;
      if (inside.some((p) => p.x <= cx && p.accuracy >= ca))
        area += (xs[i + 1] - xs[i]) * (as[j + 1] - as[j]);
    }
  }
  return area;
}

describe('hypervolume2d', () => {
  it('matches a hand-computed value', () => {
    // front (0.5, 0.4), (0.7, 0.6); (0.9, 0.5) dominated, (1.2, 0.9) beyond the reference
    const pts = [
      { x: 0.5, accuracy: 0.4 },
      { x: 0.7, accuracy: 0.6 },
      { x: 0.9, accuracy: 0.5 },
      { x: 1.2, accuracy: 0.9 },
    ];
    // (1-0.5)*0.4 + (1-0.7)*(0.6-0.4) = 0.2 + 0.06
    expect(hypervolume2d(pts, 1, 0)).toBeCloseTo(0.26, 12);
    expect(hypervolume2d([], 1, 0)).toBe(0);
    expect(hypervolume2d([{ x: 1, accuracy: 0.9 }], 1, 0)).toBe(0);
  });

  it('equals the brute-force area on the fixture', () => {
    const { records, fullModel } = loadCampaignResults(FIXTURE_PATH);
    for (const task of ['mmlu', 'arc_challenge']) {
      const pts = records
        .filter((r) => r.task === task && r.quant === 'none')
        .map((r) => ({ x: r.sizeBytes / fullModel.sizeBytes, accuracy: r.accuracy }));
      expect(hypervolume2d(pts, 1, 0)).toBeCloseTo(bruteHypervolume(pts, 1, 0), 12);
    }
  });
});
