import {
  decode,
  llama2Space,
  type Candidate,
  type ResultInput,
  type SearchOptionsInput,
} from '../../../src/search';
import { syntheticNasObjectives } from '../../../src/search/problems';

export const space = llama2Space();

export function measure(c: Pick<Candidate, 'genes'>): Record<string, number> {
  const spec = decode(space, c.genes);
  return {
    ...syntheticNasObjectives(space, spec),
    // a third, conflicting objective for 3-D tests: latency grows with depth more than width
    latency_ms: 10 + spec.layers * 1.5 + spec.intermediate.reduce((s, w) => s + w, 0) / 20_000,
  };
}

export function evaluate(candidates: Candidate[]): ResultInput[] {
  return candidates.map((c) => ({ key: c.key, objectives: measure(c) }));
}

/** The paper's setting with a lighter inner search and coarser grids, to keep unit tests fast. */
export function nasOptions(seed: number, extra: Partial<SearchOptionsInput> = {}): SearchOptionsInput {
  return {
    space: { layerCounts: [24, 28, 32], widths: [5504, 11008] },
    objectives: [
      { name: 'accuracy', direction: 'max', reference: 0.3 },
      { name: 'size_gib', direction: 'min', reference: 13 },
    ],
    seed,
    predictorEvaluations: 2500,
    predictor: { model: 'auto', folds: 5, costs: [1, 2, 5, 10, 20, 50, 100], alphas: [0.1, 0.3, 1, 3, 10] },
    ...extra,
  };
}
