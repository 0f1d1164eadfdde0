import { optionProbabilities, percentile, upperPercentile } from '../../../src/analysis/stats';

// The tiny set's accuracies, unsorted: sorted they are 0.50 0.52 0.55 0.58 0.60 0.62 0.64 0.66 0.68 0.70.
const ACC = [0.5, 0.55, 0.6, 0.62, 0.58, 0.66, 0.64, 0.7, 0.68, 0.52];

describe('percentile (linear interpolation, numpy default)', () => {
  it('matches hand-computed values', () => {
    // q=40: h = 9*0.4 = 3.6 -> v[3] + 0.6*(v[4]-v[3]) = 0.58 + 0.6*0.02
    expect(percentile(ACC, 40)).toBeCloseTo(0.592, 12);
    // q=60: h = 5.4 -> 0.62 + 0.4*0.02
    expect(percentile(ACC, 60)).toBeCloseTo(0.628, 12);
    // q=80: h = 7.2 -> 0.66 + 0.2*0.02
    expect(percentile(ACC, 80)).toBeCloseTo(0.664, 12);
    expect(percentile(ACC, 0)).toBe(0.5);
    expect(percentile(ACC, 100)).toBe(0.7);
    // q=50 of an even count: the mean of the two middle values
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    // h = 2*0.33 = 0.66 -> 1 + 0.66*(2-1)
    expect(percentile([3, 1, 2], 33)).toBeCloseTo(1.66, 12);
    expect(percentile([7], 35)).toBe(7);
  });

  it('does not reorder its input and rejects bad arguments', () => {
    const copy = [...ACC];
    percentile(copy, 50);
    expect(copy).toEqual(ACC);
    expect(() => percentile([], 50)).toThrow(/empty/);
    expect(() => percentile([1], 101)).toThrow(/\[0, 100\]/);
    expect(() => percentile([1, Number.NaN], 10)).toThrow(/non-finite/);
  });
});

describe('upperPercentile', () => {
  const items = ACC.map((accuracy, i) => ({ id: i, accuracy }));

  it('keeps accuracy >= the (100-p)-th percentile', () => {
    const u60 = upperPercentile(items, 60);
    expect(u60.threshold).toBeCloseTo(0.592, 12);
    expect(u60.selected.map((i) => i.accuracy).sort()).toEqual([0.6, 0.62, 0.64, 0.66, 0.68, 0.7]);
    expect(
      upperPercentile(items, 40)
        .selected.map((i) => i.accuracy)
        .sort(),
    ).toEqual([0.64, 0.66, 0.68, 0.7]);
    expect(
      upperPercentile(items, 20)
        .selected.map((i) => i.accuracy)
        .sort(),
    ).toEqual([0.68, 0.7]);
    expect(upperPercentile(items, 100).selected).toHaveLength(10);
  });

  it('keeps every tie at the threshold', () => {
    const tied = [0.5, 0.6, 0.6, 0.6].map((accuracy) => ({ accuracy }));
    // 75th percentile: h = 2.25 -> 0.6; all three 0.6 are kept although p = 25% of 4 is one item
    expect(upperPercentile(tied, 25).selected).toHaveLength(3);
  });

  it('gives an empty selection for no items and rejects p outside (0, 100]', () => {
    expect(upperPercentile([], 20).selected).toEqual([]);
    expect(() => upperPercentile(items, 0)).toThrow();
  });
});

describe('optionProbabilities', () => {
  it('counts each option, unseen options at 0', () => {
    const p = optionProbabilities([3, 4, 4, 3, 4, 4], [2, 3, 4]);
    expect([...p.entries()]).toEqual([
      [2, 0],
      [3, 2 / 6],
      [4, 4 / 6],
    ]);
    expect([...optionProbabilities([], [1, 2]).values()]).toEqual([0, 0]);
  });
});
