import type { EvaluationCache, EvaluationContextInput } from './cache';
import {
  abandon,
  addPriors,
  createSearch,
  isDone,
  propose,
  record,
  type Candidate,
  type ResultInput,
  type SearchOptionsInput,
  type SearchState,
} from './linas';

/**
 * A local driver of the ask/tell loop, for tests, benchmarks and scripts (a Temporal workflow
 * drives the same steps from activities instead). With a cache, every candidate is looked up
 * first and only misses reach `evaluate`; new results are stored before they are recorded.
 */
export interface LocalRunOptions {
  cache?: { store: EvaluationCache; context: EvaluationContextInput; warmStart?: boolean };
  /** Called with the state after each loop's batch is recorded. */
  onLoop?(state: SearchState): void;
}

export interface LocalRunResult {
  state: SearchState;
  /** Candidates that reached `evaluate`. */
  evaluated: number;
  /** Candidates answered by the cache. */
  cacheHits: number;
  priors: number;
}

/** Evaluates candidates; returns their values (a missing candidate counts as failed). */
export type Evaluator = (candidates: Candidate[]) => Promise<ResultInput[]> | ResultInput[];

export async function runSearch(
  start: SearchOptionsInput | SearchState,
  evaluate: Evaluator,
  options: LocalRunOptions = {},
): Promise<LocalRunResult> {
  let state = 'version' in start ? start : createSearch(start);
  let evaluated = 0;
  let cacheHits = 0;
  let priors = 0;
  const cache = options.cache;
  if (cache?.warmStart && state.loop === 0 && !state.evaluations.length) {
    const r = addPriors(
      state,
      cache.store.entries(cache.context).map((e) => ({ key: e.key, objectives: e.values })),
    );
    state = r.state;
    priors = r.added;
  }
  while (!isDone(state)) {
    const step = propose(state);
    state = step.state;
    if (!step.candidates.length) break;
    const results: ResultInput[] = [];
    const misses: Candidate[] = [];
    for (const c of step.candidates) {
      const hit = cache?.store.get(cache.context, c.key);
      if (hit) {
        results.push({ key: c.key, objectives: hit.values });
        cacheHits++;
      } else misses.push(c);
    }
    if (misses.length) {
      const fresh = await evaluate(misses);
      evaluated += misses.length;
      for (const r of fresh) {
        cache?.store.put(cache.context, r.key, r.objectives);
        results.push(r);
      }
    }
    state = record(state, results);
    const answered = new Set(results.map((r) => r.key));
    const failed = step.candidates.filter((c) => !answered.has(c.key)).map((c) => c.key);
    if (failed.length) state = abandon(state, failed);
    options.onLoop?.(state);
  }
  return { state, evaluated, cacheHits, priors };
}
