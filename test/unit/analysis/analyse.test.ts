import { analyseCampaign, heuristicArchitecture, searchPopulation } from '../../../src/analysis/analyse';
import { loadCampaignResults } from '../../../src/analysis/load';
import { AnalysisError, type CampaignResults } from '../../../src/analysis/types';
import { FIXTURE_PATH, formatResults, makeResults } from '../../fixtures/analysis/make-results';
import { TINY_SEARCH, tinyResults } from '../../fixtures/analysis/tiny';
import { readFileSync } from 'node:fs';

describe('the tiny hand-made campaign', () => {
  const analysis = analyseCampaign(tinyResults(), { minWidthRecords: 4 });

  it('analyses only the float search evaluations, each architecture once', () => {
    const population = searchPopulation(tinyResults().records, 't');
    expect(population).toEqual(TINY_SEARCH);
  });

  it('gives hand-computed layer-count probabilities in the upper 60/40/20th percentiles', () => {
    const table = (p: number) =>
      analysis.layerProbabilities
        .filter((r) => r.task === 't' && r.upperPercentile === p)
        .map((r) => [r.layers, r.count, r.probability]);
    // upper 60th: accuracy >= 0.592: 0.60 0.62 0.66 (3 layers) and 0.64 0.68 0.70 (4 layers)
    expect(table(60)).toEqual([
      [2, 0, 0],
      [3, 3, 0.5],
      [4, 3, 0.5],
    ]);
    // upper 40th: accuracy >= 0.628: 0.66 (3 layers), 0.64 0.68 0.70 (4 layers)
    expect(table(40)).toEqual([
      [2, 0, 0],
      [3, 1, 0.25],
      [4, 3, 0.75],
    ]);
    // upper 20th: accuracy >= 0.664: 0.68 0.70, both 4 layers
    expect(table(20)).toEqual([
      [2, 0, 0],
      [3, 0, 0],
      [4, 2, 1],
    ]);
    const t60 = analysis.layerProbabilities.find((r) => r.upperPercentile === 60);
    expect(t60?.threshold).toBeCloseTo(0.592, 12);
    expect(t60?.selected).toBe(6);
  });

  it('gives hand-computed per-layer width probabilities', () => {
    // 4-layer population: 0.64 [16,16,16,16], 0.70 [8,16,16,8], 0.68 [16,16,8,8], 0.52 [8,8,16,16]
    // upper 20th among them: >= percentile 80 (h = 2.4: 0.68 + 0.4*0.02 = 0.688): only [8,16,16,8]
    const p8 = (p: number, layer: number) =>
      analysis.widthProbabilities.find(
        (r) => r.layers === 4 && r.upperPercentile === p && r.layer === layer && r.width === 8,
      )?.probability;
    expect([1, 2, 3, 4].map((l) => p8(20, l))).toEqual([1, 0, 0, 1]);
    // upper 15th: >= percentile 85 (h = 2.55: 0.68 + 0.55*0.02 = 0.691): again only [8,16,16,8]
    expect([1, 2, 3, 4].map((l) => p8(15, l))).toEqual([1, 0, 0, 1]);
    // the 8 and 16 probabilities of a layer add up to 1
    for (const r of analysis.widthProbabilities.filter((r) => r.width === 8)) {
      const other = analysis.widthProbabilities.find(
        (o) =>
          o.layers === r.layers &&
          o.upperPercentile === r.upperPercentile &&
          o.layer === r.layer &&
          o.width === 16,
      );
      expect(r.probability + (other?.probability ?? Number.NaN)).toBeCloseTo(1, 12);
    }
    // 3-layer population: 0.60 [8,8,16], 0.62 [8,16,16], 0.58 [16,8,8], 0.66 [8,8,8];
    // upper 20th: >= percentile 80 (h = 2.4: 0.62 + 0.4*0.04 = 0.636): only [8,8,8]
    expect(
      analysis.widthProbabilities
        .filter((r) => r.layers === 3 && r.upperPercentile === 20 && r.width === 8)
        .map((r) => r.probability),
    ).toEqual([1, 1, 1]);
    // 2 layers have only two sub-networks: below minWidthRecords, not analysed
    expect(analysis.options.widthLayerCounts.t).toEqual([3, 4]);
  });

  it('suggests the hand-derived heuristic architectures', () => {
    const { records } = tinyResults();
    // upper 50th of the 4-layer ones: >= 0.66: [8,16,16,8] and [16,16,8,8]:
    // layer 1 and 3 tie (no dominance -> 16), layer 2 all 16, layer 4 all 8
    expect(heuristicArchitecture(records, 't', 4, 50)).toEqual({ layers: 4, intermediate: [16, 16, 16, 8] });
    // upper 75th: >= 0.61: adds [16,16,16,16]: P(8) = 1/3, 0, 1/3, 2/3
    expect(heuristicArchitecture(records, 't', 4, 75)).toEqual({ layers: 4, intermediate: [16, 16, 16, 8] });
    expect(heuristicArchitecture(records, 't', 4, 20)).toEqual({ layers: 4, intermediate: [8, 16, 16, 8] });
    // explicit width options: a third, larger width becomes the default
    expect(heuristicArchitecture(records, 't', 4, 20, [8, 16, 32])).toEqual({
      layers: 4,
      intermediate: [8, 32, 32, 8],
    });
    expect(() => heuristicArchitecture(records, 't', 5, 20)).toThrow(AnalysisError);
    expect(() => heuristicArchitecture(records, 'nope', 4, 20)).toThrow(/task "nope"/);
    const row = analysis.heuristics.find((h) => h.layers === 4 && h.upperPercentile === 20);
    expect(row?.smallLayers).toEqual([1, 4]);
    expect(row?.subnet.intermediate).toEqual([8, 16, 16, 8]);
    // evaluated by the search at 0.70; the full model has 0.67
    expect(row?.confirmation?.accuracy).toBe(0.7);
    expect(row?.accuracyDelta).toBeCloseTo(0.03, 12);
  });

  it('builds fronts without the full model and hypervolume per loop', () => {
    const front = analysis.fronts.find((f) => f.id === 't/size-accuracy/none');
    // sizes 2*(1000+100*sum of widths): [8,8,8] 6800 at 0.66 dominates everything up to
    // [8,16,16,8] 11600 at 0.70; the full model (14800, 0.67) is left out
    expect(front?.points.map((p) => [p.sizeBytes, p.accuracy])).toEqual([
      [6800, 0.66],
      [11600, 0.7],
    ]);
    expect(analysis.fronts.map((f) => f.id)).toEqual([
      't/size-accuracy/none',
      't/size-accuracy/int8',
      'other/size-accuracy/none',
    ]);
    expect(analysis.hypervolume.filter((h) => h.task === 't').map((h) => [h.loop, h.evaluations])).toEqual([
      [0, 3],
      [1, 7],
      [2, 10],
    ]);
    const hv = analysis.hypervolume.filter((h) => h.task === 't').map((h) => h.hypervolume);
    const f = 14800;
    // loop 0: front (6800, 0.50), (8400, 0.60) in (size / full size, accuracy), reference (1, 0)
    expect(hv[0]).toBeCloseTo((1 - 6800 / f) * 0.5 + (1 - 8400 / f) * 0.1, 12);
    // loop 1: [8,8,8] (6800, 0.66) dominates the loop-0 front
    expect(hv[1]).toBeCloseTo((1 - 6800 / f) * 0.66, 12);
    // loop 2: adds (11600, 0.70)
    expect(hv[2]).toBeCloseTo((1 - 6800 / f) * 0.66 + (1 - 11600 / f) * 0.04, 12);
  });

  it('selects summary rows against the full model, with their quantized twins', () => {
    const rows = analysis.summary.filter((r) => r.task === 't').map((r) => [r.role, r.quant, r.accuracy]);
    expect(rows).toEqual([
      ['full', 'none', 0.67],
      ['full', 'int8', 0.66],
      ['best-accuracy', 'none', 0.7],
      ['best-accuracy', 'int8', 0.69],
      ['smallest-within-tolerance', 'none', 0.66], // smallest front member with accuracy >= 0.67 - 0.01
      ['heuristic', 'none', 0.65],
    ]);
    const best = analysis.summary.find((r) => r.role === 'best-accuracy');
    expect(best?.accuracyDelta).toBeCloseTo(0.03, 12);
    expect(best?.sizeReduction).toBeCloseTo(14800 / 11600, 12);
    // with no tolerance no front member is as accurate as the full model except the best
    const strict = analyseCampaign(tinyResults(), { selectionTolerance: 0 });
    expect(strict.summary.filter((r) => r.role === 'smallest-within-tolerance')).toEqual([]);
  });
});

describe('the stored results fixture', () => {
  const results = loadCampaignResults(FIXTURE_PATH);

  it('is what its seeded generator makes', () => {
    // compared as data, so reformatting the file does not matter
    expect(JSON.parse(readFileSync(FIXTURE_PATH, 'utf8'))).toEqual(JSON.parse(formatResults(makeResults())));
    expect(results.records.length).toBeGreaterThanOrEqual(100);
  });

  it('has coherent analysis tables', () => {
    const a = analyseCampaign(results);
    expect(a.tasks).toEqual(['mmlu', 'arc_challenge']);
    // every layer-probability group sums to 1 and its threshold is the (100-p)th percentile
    for (const task of a.tasks) {
      for (const p of [60, 40, 20]) {
        const rows = a.layerProbabilities.filter((r) => r.task === task && r.upperPercentile === p);
        expect(rows.map((r) => r.layers)).toEqual([24, 28, 32]);
        expect(rows.reduce((s, r) => s + r.probability, 0)).toBeCloseTo(1, 12);
        expect(rows.reduce((s, r) => s + r.count, 0)).toBe(rows[0].selected);
      }
    }
    // the 60th percentile set holds at least 60% of the 50 distinct search sub-networks
    expect(
      a.layerProbabilities.find((r) => r.task === 'mmlu' && r.upperPercentile === 60)?.selected,
    ).toBeGreaterThanOrEqual(30);
    // throughput fronts only where throughput was measured
    expect(a.fronts.map((f) => f.id).filter((id) => id.includes('throughput'))).toEqual([
      'mmlu/throughput-accuracy/none',
      'mmlu/throughput-accuracy/int8',
    ]);
    // the campaign's heuristic confirmation (at 20%) is found and compared to the full model
    const confirmed = a.heuristics.filter(
      (h) => h.upperPercentile === 20 && h.confirmation?.origin === 'heuristic',
    );
    expect(confirmed.map((h) => h.task).sort()).toEqual(['arc_challenge', 'mmlu']);
    expect(a.summary.filter((r) => r.role === 'full').map((r) => `${r.task}/${r.quant}`)).toEqual([
      'mmlu/none',
      'mmlu/int8',
      'arc_challenge/none',
      'arc_challenge/int8',
    ]);
  });

  it('is pure: the same input gives the same analysis, and the input is not changed', () => {
    const copy = JSON.parse(JSON.stringify(results)) as CampaignResults;
    expect(analyseCampaign(results)).toEqual(analyseCampaign(copy));
    expect(copy).toEqual(results);
  });
});
