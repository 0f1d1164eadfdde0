// analyseCampaign: campaign results in, every figure and table of the report out (no I/O).
import type { SubnetSpec } from '../model/types';
import { hypervolume2d, paretoFront } from './pareto';
import { optionProbabilities, upperPercentile } from './stats';
import {
  AnalysisError,
  type CampaignInfo,
  type CampaignResults,
  type EvaluationRecord,
  type FullModel,
  type Origin,
  type Quant,
  QUANT_LEVELS,
} from './types';

export const GIB = 1024 ** 3;

/** The objective spaces of the fronts: model size or throughput against accuracy. */
export type FrontSpace = 'size-accuracy' | 'throughput-accuracy';

/** One evaluated sub-network as it appears in fronts and tables. */
export interface PointRow {
  task: string;
  key: string;
  layers: number;
  /** The widths run-length encoded, e.g. "11008x16,5504x8". */
  widths: string;
  quant: Quant;
  origin: Origin | 'full';
  loop: number | null;
  parameters: number;
  sizeBytes: number;
  sizeGiB: number;
  accuracy: number;
  accuracyStderr: number | null;
  throughput: number | null;
}

export interface Front {
  /** "<task>/<space>/<quant>", unique in an analysis. */
  id: string;
  task: string;
  space: FrontSpace;
  quant: Quant;
  /** Sorted by the space's first objective ascending. */
  points: PointRow[];
}

export interface HypervolumeRow {
  task: string;
  loop: number;
  /** Real float evaluations of the search made up to and including this loop. */
  evaluations: number | null;
  hypervolume: number;
  /** computed: by this analysis (see `definitions.hypervolume`); campaign: as the campaign reported it. */
  source: 'computed' | 'campaign';
  referencePoint: string;
}

export interface LayerProbabilityRow {
  task: string;
  upperPercentile: number;
  /** The accuracy a sub-network needs to be in the upper percentile. */
  threshold: number;
  /** Sub-networks in the upper percentile. */
  selected: number;
  layers: number;
  /** Sub-networks in the upper percentile with this layer count. */
  count: number;
  probability: number;
}

export interface WidthProbabilityRow {
  task: string;
  /** The layer count of the sub-networks analysed. */
  layers: number;
  upperPercentile: number;
  threshold: number;
  selected: number;
  /** 1-based layer index, as in the paper's figures. */
  layer: number;
  width: number;
  count: number;
  probability: number;
}

export interface HeuristicRow {
  task: string;
  layers: number;
  upperPercentile: number;
  /** Sub-networks (of this layer count, in the upper percentile) the suggestion is drawn from. */
  selected: number;
  key: string;
  widths: string;
  /** 1-based indices of the layers given the small width. */
  smallLayers: number[];
  subnet: SubnetSpec;
  /** The campaign's float evaluation of exactly this architecture, when there is one. */
  confirmation: PointRow | null;
  /** confirmation accuracy minus the full model's float accuracy (fraction), when both exist. */
  accuracyDelta: number | null;
}

export type SummaryRole = 'full' | 'best-accuracy' | 'smallest-within-tolerance' | 'heuristic';

export interface SummaryRow extends PointRow {
  role: SummaryRole;
  label: string;
  /** accuracy minus the full model's float accuracy on this task (fraction). */
  accuracyDelta: number | null;
  /** The full model's float size divided by this size ("1.5x smaller"). */
  sizeReduction: number | null;
  /** throughput divided by the full model's float throughput. */
  speedup: number | null;
}

export interface AnalysisOptions {
  layerPercentiles?: number[];
  widthPercentiles?: number[];
  /** Layer counts to run the width analysis on, per task; default every layer option with enough sub-networks. */
  widthLayerCounts?: Record<string, number[]>;
  /** Least number of sub-networks of one layer count for the default width analysis. */
  minWidthRecords?: number;
  /** Accuracy (fraction) a "smallest within tolerance" selection may lose against the full model. */
  selectionTolerance?: number;
}

export interface Analysis {
  campaign: CampaignInfo;
  fullModel: FullModel;
  tasks: string[];
  counts: { task: string; records: number; searchFloat: number; quantized: number; heuristic: number }[];
  options: Required<Omit<AnalysisOptions, 'widthLayerCounts'>> & {
    widthLayerCounts: Record<string, number[]>;
  };
  definitions: Record<
    'percentile' | 'upperPercentile' | 'population' | 'front' | 'hypervolume' | 'selection',
    string
  >;
  /** The full model's evaluations (any quantization), one per task and quantization. */
  fullModelPoints: PointRow[];
  /** Every evaluation (the charts show them behind the fronts). */
  evaluations: PointRow[];
  fronts: Front[];
  hypervolume: HypervolumeRow[];
  layerProbabilities: LayerProbabilityRow[];
  widthProbabilities: WidthProbabilityRow[];
  heuristics: HeuristicRow[];
  summary: SummaryRow[];
}

export const DEFINITIONS: Analysis['definitions'] = {
  percentile:
    "The q-th percentile of n accuracies is numpy's default linear interpolation: sort them ascending " +
    'into v[0..n-1], h = (n-1)*q/100, value = v[floor(h)] + (h - floor(h)) * (v[floor(h)+1] - v[floor(h)]).',
  upperPercentile:
    'A sub-network is in the upper p-th percentile when its accuracy is >= the (100-p)-th percentile of ' +
    'the accuracies of the population analysed (ties at the threshold are all included).',
  population:
    'Layer-count and width probabilities are taken over the float (unquantized) search evaluations of a ' +
    'task: the full model, heuristic confirmations and quantized evaluations are left out, and a ' +
    'sub-network evaluated more than once counts once (its first evaluation). Width probabilities use only ' +
    'the sub-networks of the given layer count, and their percentile is taken among those.',
  front:
    'A front holds the evaluations of one task and quantization not dominated by another: at least as ' +
    'small (or fast) and as accurate, and strictly better in one. The full model is marked apart and is ' +
    'not part of the fronts.',
  hypervolume:
    'Computed per task after each LINAS loop over the float search evaluations of that loop and earlier: ' +
    'the area of the (size / full-model size, accuracy) region the front dominates, up to the reference ' +
    'point (1, 0), i.e. the full model size and zero accuracy.',
  selection:
    "Selected sub-networks (tables like the paper's Tables 2 and 5) come from the float size/accuracy front: " +
    '"best accuracy" is the most accurate front member, "smallest within tolerance" the smallest front ' +
    "member whose accuracy is at least the full model's minus the tolerance. Their quantized rows are the " +
    'quantized evaluations of the same architectures.',
};

function sameSubnet(a: SubnetSpec, b: SubnetSpec): boolean {
  return a.layers === b.layers && a.intermediate.every((w, i) => w === b.intermediate[i]);
}

/** Widths run-length encoded: "11008x16,5504x8". */
export function widthsKey(intermediate: readonly number[]): string {
  const runs: string[] = [];
  let i = 0;
  while (i < intermediate.length) {
    let j = i;
    while (j + 1 < intermediate.length && intermediate[j + 1] === intermediate[i]) j++;
    runs.push(`${intermediate[i]}x${j - i + 1}`);
    i = j + 1;
  }
  return runs.join(',');
}

export function toPointRow(r: EvaluationRecord): PointRow {
  return {
    task: r.task,
    key: r.key,
    layers: r.subnet.layers,
    widths: widthsKey(r.subnet.intermediate),
    quant: r.quant,
    origin: r.isFull ? 'full' : (r.origin ?? 'search'),
    loop: r.loop ?? null,
    parameters: r.parameters,
    sizeBytes: r.sizeBytes,
    sizeGiB: r.sizeBytes / GIB,
    accuracy: r.accuracy,
    accuracyStderr: r.accuracyStderr ?? null,
    throughput: r.throughput ?? null,
  };
}

/**
 * The population of the layer and width analyses for a task: float search evaluations of
 * sub-networks (not the full model, not heuristic confirmations), each architecture once.
 */
export function searchPopulation(records: readonly EvaluationRecord[], task: string): EvaluationRecord[] {
  const seen = new Set<string>();
  const out: EvaluationRecord[] = [];
  for (const r of records) {
    if (r.task !== task || r.quant !== 'none' || r.isFull || r.origin === 'heuristic') continue;
    const id = `${r.subnet.layers}:${r.subnet.intermediate.join(',')}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(r);
  }
  return out;
}

function widthOptionsOf(
  opts: FullModel['intermediateOptions'] | undefined,
  population: readonly EvaluationRecord[],
  layer: number,
): number[] {
  if (opts && opts.length) {
    const forLayer = Array.isArray(opts[0]) ? (opts as number[][])[layer] : (opts as number[]);
    if (forLayer) return [...forLayer].sort((a, b) => a - b);
  }
  return [...new Set(population.map((r) => r.subnet.intermediate[layer]))].sort((a, b) => a - b);
}

interface WidthAnalysis {
  threshold: number;
  selected: EvaluationRecord[];
  /** probabilities[i] maps each width option of layer i (0-based) to its probability. */
  probabilities: Map<number, number>[];
  options: number[][];
}

function widthAnalysis(
  population: readonly EvaluationRecord[],
  layers: number,
  p: number,
  widthOptions?: FullModel['intermediateOptions'],
): WidthAnalysis {
  const ofCount = population.filter((r) => r.subnet.layers === layers);
  const { threshold, selected } = upperPercentile(ofCount, p);
  const options: number[][] = [];
  const probabilities: Map<number, number>[] = [];
  for (let i = 0; i < layers; i++) {
    options.push(widthOptionsOf(widthOptions, ofCount, i));
    probabilities.push(
      optionProbabilities(
        selected.map((r) => r.subnet.intermediate[i]),
        options[i],
      ),
    );
  }
  return { threshold, selected, probabilities, options };
}

/** A layer gets its smallest width where that width's probability exceeds every other width's; else its largest. */
function heuristicFrom(w: WidthAnalysis, layers: number): { subnet: SubnetSpec; smallLayers: number[] } {
  const intermediate: number[] = [];
  const smallLayers: number[] = [];
  for (let i = 0; i < layers; i++) {
    const opts = w.options[i];
    const small = opts[0];
    const pSmall = w.probabilities[i].get(small) ?? 0;
    const dominates = opts.slice(1).every((o) => pSmall > (w.probabilities[i].get(o) ?? 0));
    if (dominates && opts.length > 1) {
      intermediate.push(small);
      smallLayers.push(i + 1);
    } else {
      intermediate.push(opts[opts.length - 1]);
    }
  }
  return { subnet: { layers, intermediate }, smallLayers };
}

/**
 * The architecture the width analysis suggests for `task` at `layers` layers: among the float
 * search sub-networks of that layer count in the upper `percentile`-th percentile, each layer
 * whose smallest width is more probable than every other width gets the smallest width, every
 * other layer the largest. Width options are `widthOptions` (for all layers) when given, else
 * the widths the sub-networks of that layer count use at each layer.
 */
export function heuristicArchitecture(
  records: readonly EvaluationRecord[],
  task: string,
  layers: number,
  percentile: number,
  widthOptions?: readonly number[],
): SubnetSpec {
  const population = searchPopulation(records, task);
  if (!population.some((r) => r.subnet.layers === layers)) {
    throw new AnalysisError(`no float search evaluations of ${layers}-layer sub-networks for task "${task}"`);
  }
  const options = widthOptions ? [...widthOptions] : undefined;
  return heuristicFrom(widthAnalysis(population, layers, percentile, options), layers).subnet;
}

function selectFromFront(front: readonly PointRow[], fullAccuracy: number | null, tolerance: number) {
  const picks: { role: SummaryRole; label: string; point: PointRow }[] = [];
  if (!front.length) return picks;
  const best = front.reduce((a, b) =>
    b.accuracy > a.accuracy || (b.accuracy === a.accuracy && b.sizeBytes < a.sizeBytes) ? b : a,
  );
  picks.push({ role: 'best-accuracy', label: 'Best accuracy', point: best });
  if (fullAccuracy !== null) {
    const within = front.filter((p) => p.accuracy >= fullAccuracy - tolerance - 1e-12);
    const smallest = within.reduce<PointRow | null>(
      (a, b) => (a === null || b.sizeBytes < a.sizeBytes ? b : a),
      null,
    );
    if (smallest && smallest !== best) {
      const pts = Math.round(tolerance * 1000) / 10;
      picks.push({ role: 'smallest-within-tolerance', label: `Smallest within ${pts} pt`, point: smallest });
    }
  }
  return picks;
}

/** Every figure and table of the report, from a campaign's results. Pure: no I/O, no randomness. */
export function analyseCampaign(results: CampaignResults, options: AnalysisOptions = {}): Analysis {
  const { fullModel, records } = results;
  const opts = {
    layerPercentiles: options.layerPercentiles ?? [60, 40, 20],
    widthPercentiles: options.widthPercentiles ?? [20, 15, 10],
    minWidthRecords: options.minWidthRecords ?? 5,
    selectionTolerance: options.selectionTolerance ?? 0.01,
  };
  const tasks = [...new Set(records.map((r) => r.task))];
  const layerOptions = [...fullModel.layerOptions].sort((a, b) => a - b);
  const analysis: Analysis = {
    campaign: results.campaign,
    fullModel,
    tasks,
    counts: [],
    options: { ...opts, widthLayerCounts: {} },
    definitions: DEFINITIONS,
    fullModelPoints: records.filter((r) => r.isFull).map(toPointRow),
    evaluations: records.map(toPointRow),
    fronts: [],
    hypervolume: [],
    layerProbabilities: [],
    widthProbabilities: [],
    heuristics: [],
    summary: [],
  };

  for (const task of tasks) {
    const ofTask = records.filter((r) => r.task === task);
    const population = searchPopulation(records, task);
    analysis.counts.push({
      task,
      records: ofTask.length,
      searchFloat: population.length,
      quantized: ofTask.filter((r) => r.quant !== 'none').length,
      heuristic: ofTask.filter((r) => r.origin === 'heuristic').length,
    });
    const fullFloat = ofTask.find((r) => r.isFull && r.quant === 'none');

    // Fronts, float and each quantization level, in both spaces.
    for (const quant of QUANT_LEVELS) {
      const pts = ofTask.filter((r) => r.quant === quant && !r.isFull).map(toPointRow);
      if (!pts.length) continue;
      analysis.fronts.push({
        id: `${task}/size-accuracy/${quant}`,
        task,
        space: 'size-accuracy',
        quant,
        points: paretoFront(pts, (p) => p.sizeBytes, 'min'),
      });
      const timed = paretoFront(pts, (p) => p.throughput ?? undefined, 'max');
      if (timed.length) {
        analysis.fronts.push({
          id: `${task}/throughput-accuracy/${quant}`,
          task,
          space: 'throughput-accuracy',
          quant,
          points: timed,
        });
      }
    }

    // Hypervolume after each loop.
    const looped = ofTask.filter((r) => r.quant === 'none' && !r.isFull && r.loop !== undefined);
    const loops = [...new Set(looped.map((r) => r.loop as number))].sort((a, b) => a - b);
    for (const loop of loops) {
      const upTo = looped.filter((r) => (r.loop as number) <= loop);
      analysis.hypervolume.push({
        task,
        loop,
        evaluations: upTo.length,
        hypervolume: hypervolume2d(
          upTo.map((r) => ({ x: r.sizeBytes / fullModel.sizeBytes, accuracy: r.accuracy })),
          1,
          0,
        ),
        source: 'computed',
        referencePoint: '(1, 0) in (size / full size, accuracy)',
      });
    }
    for (const h of (results.hypervolumes ?? []).filter((e) => e.task === task)) {
      analysis.hypervolume.push({
        task,
        loop: h.loop,
        evaluations: null,
        hypervolume: h.hypervolume,
        source: 'campaign',
        referencePoint: `(${h.referencePoint.join(', ')})`,
      });
    }

    // Layer-count probabilities.
    for (const p of opts.layerPercentiles) {
      const { threshold, selected } = upperPercentile(population, p);
      if (!selected.length) continue;
      const probs = optionProbabilities(
        selected.map((r) => r.subnet.layers),
        layerOptions,
      );
      for (const layers of layerOptions) {
        analysis.layerProbabilities.push({
          task,
          upperPercentile: p,
          threshold,
          selected: selected.length,
          layers,
          count: selected.filter((r) => r.subnet.layers === layers).length,
          probability: probs.get(layers) ?? 0,
        });
      }
    }

    // Width probabilities and the heuristic architectures they suggest.
    const counts =
      options.widthLayerCounts?.[task] ??
      layerOptions.filter(
        (l) => population.filter((r) => r.subnet.layers === l).length >= opts.minWidthRecords,
      );
    analysis.options.widthLayerCounts[task] = counts;
    for (const layers of counts) {
      if (!population.some((r) => r.subnet.layers === layers)) {
        throw new AnalysisError(
          `width analysis for task "${task}": no float search evaluations with ${layers} layers`,
        );
      }
      for (const p of opts.widthPercentiles) {
        const w = widthAnalysis(population, layers, p, fullModel.intermediateOptions);
        for (let i = 0; i < layers; i++) {
          for (const width of w.options[i]) {
            analysis.widthProbabilities.push({
              task,
              layers,
              upperPercentile: p,
              threshold: w.threshold,
              selected: w.selected.length,
              layer: i + 1,
              width,
              count: w.selected.filter((r) => r.subnet.intermediate[i] === width).length,
              probability: w.probabilities[i].get(width) ?? 0,
            });
          }
        }
        const { subnet, smallLayers } = heuristicFrom(w, layers);
        // Prefer the campaign's confirmation run; a search evaluation of the same architecture also confirms it.
        const matches = ofTask.filter((r) => r.quant === 'none' && !r.isFull && sameSubnet(r.subnet, subnet));
        const confirmation = matches.find((r) => r.origin === 'heuristic') ?? matches[0];
        analysis.heuristics.push({
          task,
          layers,
          upperPercentile: p,
          selected: w.selected.length,
          key: confirmation?.key ?? `${layers}:${widthsKey(subnet.intermediate)}`,
          widths: widthsKey(subnet.intermediate),
          smallLayers,
          subnet,
          confirmation: confirmation ? toPointRow(confirmation) : null,
          accuracyDelta: confirmation && fullFloat ? confirmation.accuracy - fullFloat.accuracy : null,
        });
      }
    }

    // Summary rows (Tables 2 and 5): the full model, selected front members, heuristic confirmations.
    const summaryRow = (r: EvaluationRecord, role: SummaryRole, label: string): SummaryRow => ({
      ...toPointRow(r),
      role,
      label,
      accuracyDelta: fullFloat ? r.accuracy - fullFloat.accuracy : null,
      sizeReduction: fullFloat ? fullFloat.sizeBytes / r.sizeBytes : null,
      speedup: fullFloat?.throughput && r.throughput ? r.throughput / fullFloat.throughput : null,
    });
    const withQuantized = (float: EvaluationRecord, role: SummaryRole, label: string) => {
      analysis.summary.push(summaryRow(float, role, label));
      for (const quant of QUANT_LEVELS.slice(1)) {
        const q = ofTask.find(
          (r) => r.quant === quant && sameSubnet(r.subnet, float.subnet) && !!r.isFull === !!float.isFull,
        );
        if (q) analysis.summary.push(summaryRow(q, role, label));
      }
    };
    if (fullFloat) withQuantized(fullFloat, 'full', 'Full model');
    const floatFront = analysis.fronts.find((f) => f.id === `${task}/size-accuracy/none`)?.points ?? [];
    for (const pick of selectFromFront(floatFront, fullFloat?.accuracy ?? null, opts.selectionTolerance)) {
      const rec = ofTask.find(
        (r) =>
          r.quant === 'none' && !r.isFull && r.key === pick.point.key && r.sizeBytes === pick.point.sizeBytes,
      );
      if (rec) withQuantized(rec, pick.role, pick.label);
    }
    const confirmed = new Set<string>();
    for (const r of ofTask.filter((r) => r.origin === 'heuristic' && r.quant === 'none' && !r.isFull)) {
      const id = `${r.subnet.layers}:${r.subnet.intermediate.join(',')}`;
      if (confirmed.has(id)) continue;
      confirmed.add(id);
      withQuantized(r, 'heuristic', 'Heuristic');
    }
  }
  return analysis;
}
