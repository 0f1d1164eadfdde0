import {
  decode,
  llama2Space,
  type Candidate,
  type ResultInput,
  type SearchOptionsInput,
} from '../../../src/search';
import { syntheticNasObjectives, syntheticNasOptions } from '../../../src/search/problems';

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
    ...syntheticNasOptions(seed),
    predictorEvaluations: 2500,
    predictor: { model: 'auto', folds: 5, costs: [1, 2, 5, 10, 20, 50, 100], alphas: [0.1, 0.3, 1, 3, 10] },
    ...extra,
  };
}
