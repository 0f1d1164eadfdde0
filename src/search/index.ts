// The search stage: LINAS as an ask/tell library (see README.md). The cache and the local
// driver touch the file system; everything else is pure and serialisable.
export * from './space';
export * from './linas';
export { Rng, seedRng, type RngState } from './rng';
export {
  dominance,
  nonDominatedSort,
  nonDominated,
  crowdingDistance,
  hypervolume,
  violation,
} from './pareto';
export {
  Nsga2,
  NSGA_DEFAULTS,
  type NsgaProblem,
  type NsgaOptions,
  type Individual,
  type NsgaResult,
} from './nsga2';
export {
  Predictor,
  PREDICTOR_DEFAULTS,
  RIDGE_ALPHAS,
  SVR_COSTS,
  type PredictorReport,
  type PredictorOptions,
} from './predictor';
export {
  EvaluationCache,
  CacheError,
  canonicalJson,
  evaluationContextSchema,
  type CacheEntry,
  type EvaluationContext,
  type EvaluationContextInput,
} from './cache';
export { runSearch, type Evaluator, type LocalRunOptions, type LocalRunResult } from './driver';
