import type { SubnetSpec } from '../model/types';
import type { NsgaProblem } from './nsga2';
import type { SearchOptionsInput } from './linas';
import type { SearchSpace } from './space';

/**
 * Reference problems for tests and benchmarks: the ZDT suite (Zitzler, Deb, Thiele 2000) with
 * its analytic Pareto fronts, and a synthetic NAS objective over an elastic LLaMA space.
 */
export type ZdtName = 'zdt1' | 'zdt2' | 'zdt3';

function zdtF2(name: ZdtName, f1: number, g: number): number {
  const r = f1 / g;
  switch (name) {
    case 'zdt1':
      return g * (1 - Math.sqrt(r));
    case 'zdt2':
      return g * (1 - r * r);
    case 'zdt3':
      return g * (1 - Math.sqrt(r) - r * Math.sin(10 * Math.PI * f1));
  }
}

export function zdt(name: ZdtName, nVar = 30): NsgaProblem & { objectives(x: number[]): number[] } {
  const objectives = (x: number[]): number[] => {
    let s = 0;
    for (let i = 1; i < x.length; i++) s += x[i];
    const g = 1 + (9 * s) / (x.length - 1);
    return [x[0], zdtF2(name, x[0], g)];
  };
  return {
    nVar,
    lower: new Array<number>(nVar).fill(0),
    upper: new Array<number>(nVar).fill(1),
    integer: false,
    evaluate: (X) => ({ F: X.map(objectives) }),
    objectives,
  };
}

/** The ZDT3 front's disconnected pieces (f1 ranges), from the literature. */
const ZDT3_PIECES: [number, number][] = [
  [0, 0.0830015349],
  [0.182228728, 0.2577623634],
  [0.4093136748, 0.4538821041],
  [0.6183967944, 0.6525117038],
  [0.8233317983, 0.8518328654],
];

/** `n` points of the true Pareto front (g = 1). */
export function zdtFront(name: ZdtName, n = 10_000): number[][] {
  const ranges: [number, number][] = name === 'zdt3' ? ZDT3_PIECES : [[0, 1]];
  const total = ranges.reduce((s, [a, b]) => s + (b - a), 0);
  const points: number[][] = [];
  for (const [a, b] of ranges) {
    const k = Math.max(2, Math.round((n * (b - a)) / total));
    for (let i = 0; i < k; i++) {
      const f1 = a + ((b - a) * i) / (k - 1);
      points.push([f1, zdtF2(name, f1, 1)]);
    }
  }
  return points;
}

/** Parameters of a LLaMA-shaped model, for the size objective. */
export interface LlamaDims {
  hidden: number;
  vocab: number;
}

export function llamaParameters(spec: SubnetSpec, dims: LlamaDims = { hidden: 4096, vocab: 32000 }): number {
  const h = dims.hidden;
  let params = 2 * dims.vocab * h + h;
  for (const inter of spec.intermediate) params += 4 * h * h + 3 * h * inter + 2 * h;
  return params;
}

/**
 * A synthetic accuracy for NAS tests: deterministic in the sub-network, rising with depth and
 * width with diminishing returns, layer-dependent importance (early and last layers matter
 * more) and a small interaction term, so that the best architectures at a given size are
 * neither all-wide nor all-deep. Values lie in roughly [0.3, 0.6].
 */
export function syntheticAccuracy(space: SearchSpace, spec: SubnetSpec): number {
  const maxLayers = space.widths.length;
  let score = 0;
  let prevWide = false;
  for (let i = 0; i < spec.layers; i++) {
    const opts = space.widths[i];
    const rel = opts.length > 1 ? opts.indexOf(spec.intermediate[i]) / (opts.length - 1) : 1;
    const pos = i / Math.max(1, maxLayers - 1);
    const importance = 0.6 + 0.8 * Math.pow(2 * pos - 1, 2) + 0.3 * Math.sin(7.3 * i);
    score += 0.55 * importance + 0.45 * importance * rel;
    if (rel > 0.5 && prevWide) score += 0.05 * Math.cos(3.1 * i);
    prevWide = rel > 0.5;
  }
  const norm = score / (maxLayers * 1.2);
  return 0.3 + (0.3 * (1 - Math.exp(-2.5 * norm))) / (1 - Math.exp(-2.5));
}

/** The synthetic NAS problem's objectives: synthetic accuracy and the FP16 size of a LLaMA-2-7B sub-network. */
export function syntheticNasObjectives(
  space: SearchSpace,
  spec: SubnetSpec,
): { accuracy: number; size_gib: number } {
  return { accuracy: syntheticAccuracy(space, spec), size_gib: (llamaParameters(spec) * 2) / 2 ** 30 };
}

/** The synthetic NAS problem's search: LLaMA-2-7B's space, accuracy up and FP16 size down. */
export function syntheticNasOptions(seed: number): SearchOptionsInput {
  return {
    space: { layerCounts: [24, 28, 32], widths: [5504, 11008] },
    objectives: [
      { name: 'accuracy', direction: 'max', reference: 0.3 },
      { name: 'size_gib', direction: 'min', reference: 13 },
    ],
    seed,
  };
}
