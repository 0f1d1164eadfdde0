import { z } from 'zod';
import type { SubnetSpec } from '../model/types';
import { Nsga2, type Individual } from './nsga2';
import { crowdingDistance, hypervolume, nonDominated, violation } from './pareto';
import { Predictor, PREDICTOR_DEFAULTS, type PredictorReport } from './predictor';
import { Rng, seedRng, type RngState } from './rng';
import {
  canonicalGenes,
  createSpace,
  decode,
  encode,
  geneBounds,
  geneCount,
  parseSubnetKey,
  searchSpaceSchema,
  SearchSpaceError,
  subnetKey,
  type SearchSpace,
} from './space';
import { zodErrorText } from '../zod-error';

/**
 * LINAS (the LLaMA-NAS search, after DyNAS-T) as an ask/tell library: `propose` returns the next batch to
 * evaluate for real, `record` takes their measured values. Everything between two steps is in
 * a plain-JSON `SearchState` (options, archive, pending batch, RNG state, per-loop history), so
 * a driver can store it anywhere (a file, a workflow's continue-as-new argument) and resume in
 * another process with the same results. No I/O here.
 */

const metricName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'a metric name: letters, digits, "_", ".", "-"');

export const objectiveSchema = z
  .object({
    /** The metric's name in recorded results, e.g. "accuracy" or "size_gib". */
    name: metricName,
    direction: z.enum(['min', 'max']),
    /** Hypervolume reference value in the metric's own units (worse than any point that should count). */
    reference: z.number().finite().optional(),
  })
  .strict();

export const constraintSchema = z
  .object({
    /** A recorded metric (an objective or another value that results carry). */
    metric: metricName,
    min: z.number().finite().optional(),
    max: z.number().finite().optional(),
  })
  .strict()
  .refine((c) => c.min !== undefined || c.max !== undefined, 'a constraint needs min or max');

export const searchOptionsSchema = z
  .object({
    space: searchSpaceSchema,
    objectives: z.array(objectiveSchema).min(2).max(3),
    constraints: z.array(constraintSchema).default([]),
    population: z.number().int().min(2).default(50),
    /** Real evaluations this search may propose (priors from the cache do not count). */
    budget: z.number().int().min(1).default(250),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
    /** Predicted evaluations per inner NSGA-II run: population x generations. */
    predictorEvaluations: z.number().int().min(1).default(20_000),
    /** Real evaluations needed before predictors drive the search (default: the population). */
    minTrainingSize: z.number().int().min(5).optional(),
    nsga: z
      .object({
        crossoverProb: z.number().min(0).max(1).default(0.9),
        crossoverEta: z.number().positive().default(15),
        mutationProb: z.number().min(0).max(1).default(0.02),
        mutationEta: z.number().positive().default(20),
      })
      .strict()
      .default({ crossoverProb: 0.9, crossoverEta: 15, mutationProb: 0.02, mutationEta: 20 }),
    predictor: z
      .object({
        model: z.enum(['auto', 'ridge', 'svr']).default('auto'),
        folds: z.number().int().min(2).default(5),
        alphas: z.array(z.number().positive()).min(1).optional(),
        costs: z.array(z.number().positive()).min(1).optional(),
      })
      .strict()
      .default({ model: 'auto', folds: 5 }),
  })
  .strict();

export type SearchOptionsInput = z.input<typeof searchOptionsSchema>;
export type SearchOptions = z.output<typeof searchOptionsSchema>;

const genesSchema = z.array(z.number().int().min(0));
const metricsSchema = z.record(z.string(), z.number().finite());

const evaluationSchema = z
  .object({
    key: z.string(),
    /** Canonical gene vector (inactive genes 0). */
    genes: genesSchema,
    objectives: metricsSchema,
    /** The loop that proposed it; 0 for priors. */
    loop: z.number().int().min(0),
    source: z.enum(['search', 'prior']),
  })
  .strict();
export type Evaluation = z.infer<typeof evaluationSchema>;

const predictorReportSchema = z
  .object({
    model: z.enum(['ridge', 'svr']),
    ridge: z.object({ alpha: z.number(), cvMape: z.number() }).strict().nullable(),
    svr: z.object({ C: z.number(), cvMape: z.number() }).strict().nullable(),
    cvMape: z.number(),
    samples: z.number().int(),
  })
  .strict();

const loopRecordSchema = z
  .object({
    loop: z.number().int().min(1),
    /** 'random' for sampled batches, 'predictor' for batches from the inner NSGA-II. */
    source: z.enum(['random', 'predictor']),
    proposed: z.number().int().min(0),
    /** Candidates filled in from the predicted front or at random (the final population had too few unseen). */
    refilled: z.number().int().min(0),
    /** Predictors fitted for this loop (null for a random batch). */
    predictors: z.record(z.string(), predictorReportSchema).nullable(),
    /** Filled in when the loop's batch is fully recorded. */
    completed: z.boolean(),
    evaluated: z.number().int().min(0),
    hypervolume: z.number().nullable(),
    frontSize: z.number().int().min(0),
  })
  .strict();
export type LoopRecord = z.infer<typeof loopRecordSchema>;

export const searchStateSchema = z
  .object({
    version: z.literal(1),
    options: searchOptionsSchema,
    rng: z.tuple([z.number().int(), z.number().int(), z.number().int(), z.number().int()]),
    loop: z.number().int().min(0),
    pending: z.array(
      z.object({ key: z.string(), genes: genesSchema, loop: z.number().int().min(1) }).strict(),
    ),
    evaluations: z.array(evaluationSchema),
    /** Keys abandoned by the driver (failed evaluations): never proposed again. */
    failed: z.array(z.string()),
    /** Hypervolume reference in minimisation form (max objectives negated); fixed once set. */
    reference: z.array(z.number()).nullable(),
    /** No unseen candidate was left to propose. */
    exhausted: z.boolean(),
    history: z.array(loopRecordSchema),
  })
  .strict();
export type SearchState = z.infer<typeof searchStateSchema>;

export interface Candidate {
  key: string;
  genes: number[];
  subnet: SubnetSpec;
}

export interface ResultInput {
  key: string;
  /** Every objective's and constrained metric's value; other entries are kept too. */
  objectives: Record<string, number>;
}

export class SearchError extends Error {
  override name = 'SearchError';
}

/** Metrics that need a value in every result: the objectives, then constrained metrics. */
export function requiredMetrics(options: SearchOptions): string[] {
  const names = options.objectives.map((o) => o.name);
  for (const c of options.constraints) if (!names.includes(c.metric)) names.push(c.metric);
  return names;
}

export function createSearch(input: SearchOptionsInput): SearchState {
  const parsed = searchOptionsSchema.safeParse(input);
  if (!parsed.success) throw new SearchError(`search options: ${zodErrorText(parsed.error)}`);
  const options = parsed.data;
  createSpace(options.space); // validates distinctness and per-layer list lengths
  const names = options.objectives.map((o) => o.name);
  if (new Set(names).size !== names.length)
    throw new SearchError(`search options: an objective is listed twice (${names.join(', ')})`);
  return {
    version: 1,
    options,
    rng: seedRng(options.seed),
    loop: 0,
    pending: [],
    evaluations: [],
    failed: [],
    reference: null,
    exhausted: false,
    history: [],
  };
}

/** Validates a state read from storage (JSON.parse output). */
export function loadState(json: unknown, source = 'search state'): SearchState {
  const parsed = searchStateSchema.safeParse(json);
  if (!parsed.success) throw new SearchError(`${source}: ${zodErrorText(parsed.error)}`);
  return parsed.data;
}

function spaceOf(state: SearchState): SearchSpace {
  return createSpace(state.options.space);
}

/** The predictor features: [L, width of each layer, 0 for inactive layers]. */
export function featureRow(space: SearchSpace, genes: readonly number[]): number[] {
  const layers = space.layerCounts[genes[0]];
  const row = new Array<number>(geneCount(space));
  row[0] = layers;
  for (let i = 0; i < space.widths.length; i++) row[1 + i] = i < layers ? space.widths[i][genes[1 + i]] : 0;
  return row;
}

/** Objective vector in minimisation form. */
function toMin(options: SearchOptions, values: Record<string, number>): number[] {
  return options.objectives.map((o) => (o.direction === 'max' ? -values[o.name] : values[o.name]));
}

function constraintValues(options: SearchOptions, values: Record<string, number>): number[] {
  const g: number[] = [];
  for (const c of options.constraints) {
    const v = values[c.metric];
    if (c.max !== undefined) g.push(v - c.max);
    if (c.min !== undefined) g.push(c.min - v);
  }
  return g;
}

export function isFeasible(options: SearchOptions, values: Record<string, number>): boolean {
  return violation(constraintValues(options, values)) <= 0;
}

function evaluatedCount(state: SearchState): number {
  return state.evaluations.reduce((n, e) => n + (e.source === 'search' ? 1 : 0), 0);
}

function clone(state: SearchState): SearchState {
  return structuredClone(state);
}

function randomUnseen(space: SearchSpace, rng: Rng, n: number, seen: Set<string>): Candidate[] {
  const { lower, upper } = geneBounds(space);
  const out: Candidate[] = [];
  // Integer random sampling with duplicates resampled; gives up when the space looks exhausted.
  for (let tries = 0; out.length < n && tries < 1000 * n; tries++) {
    const genes = lower.map((lo, i) => rng.int(lo, upper[i]));
    const subnet = decode(space, genes);
    const key = subnetKey(subnet);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ key, genes: canonicalGenes(space, genes), subnet });
  }
  return out;
}

interface Predicted {
  genes: number[];
  f: number[];
  g: number[];
  cv: number;
}

function fitPredictors(state: SearchState, space: SearchSpace): Map<string, Predictor> {
  const o = state.options;
  const rows = state.evaluations.map((e) => featureRow(space, e.genes));
  const predictors = new Map<string, Predictor>();
  for (const metric of requiredMetrics(o)) {
    predictors.set(
      metric,
      Predictor.fit(
        rows,
        state.evaluations.map((e) => e.objectives[metric]),
        {
          model: o.predictor.model,
          folds: o.predictor.folds,
          alphas: o.predictor.alphas ?? PREDICTOR_DEFAULTS.alphas,
          costs: o.predictor.costs ?? PREDICTOR_DEFAULTS.costs,
        },
      ),
    );
  }
  return predictors;
}

/** Canonical genes as a compact string, one UTF-16 unit per gene, without validation (hot path). */
function fastCanonicalKey(space: SearchSpace, x: readonly number[]): string {
  const layers = space.layerCounts[x[0]];
  const codes = new Array<number>(x.length);
  for (let i = 0; i < x.length; i++) codes[i] = i === 0 || i <= layers ? 48 + x[i] : 48;
  return String.fromCharCode(...codes);
}

function genesOfFastKey(key: string): number[] {
  const genes = new Array<number>(key.length);
  for (let i = 0; i < key.length; i++) genes[i] = key.charCodeAt(i) - 48;
  return genes;
}

/** The inner NSGA-II on the predictors; returns its final population and everything it predicted. */
function predictedSearch(
  state: SearchState,
  space: SearchSpace,
  predictors: Map<string, Predictor>,
  rng: Rng,
): { final: Individual[]; predicted: Map<string, Predicted> } {
  const o = state.options;
  const { lower, upper } = geneBounds(space);
  const metrics = requiredMetrics(o);
  const predicted = new Map<string, Predicted>();
  const canonicalKey = (x: number[]) => fastCanonicalKey(space, x);
  const problem = {
    nVar: geneCount(space),
    lower,
    upper,
    integer: true,
    duplicateKey: canonicalKey,
    evaluate: (X: number[][]) => {
      const keys = X.map(canonicalKey);
      const fresh: number[] = [];
      const batch = new Set<string>();
      keys.forEach((k, i) => {
        if (!predicted.has(k) && !batch.has(k)) {
          batch.add(k);
          fresh.push(i);
        }
      });
      if (fresh.length) {
        const rows = fresh.map((i) => featureRow(space, X[i]));
        const values = metrics.map((m) => predictors.get(m)!.predict(rows));
        fresh.forEach((i, r) => {
          const v: Record<string, number> = {};
          metrics.forEach((m, k) => (v[m] = values[k][r]));
          const g = constraintValues(o, v);
          predicted.set(keys[i], { genes: genesOfFastKey(keys[i]), f: toMin(o, v), g, cv: violation(g) });
        });
      }
      const F = keys.map((k) => predicted.get(k)!.f);
      const G = keys.map((k) => predicted.get(k)!.g);
      return { F, G };
    },
  };
  const generations = Math.max(1, Math.ceil(o.predictorEvaluations / o.population));
  const result = new Nsga2(
    problem,
    {
      popSize: o.population,
      generations,
      crossoverProb: o.nsga.crossoverProb,
      crossoverEta: o.nsga.crossoverEta,
      mutationProb: o.nsga.mutationProb,
      mutationEta: o.nsga.mutationEta,
    },
    rng,
  ).run();
  return { final: result.pop, predicted };
}

/**
 * Unseen candidates from the predicted set, best first: feasible ones front by front (each front
 * by decreasing crowding distance), then infeasible ones by increasing violation.
 */
function fillFromPredicted(predicted: Predicted[], n: number): Predicted[] {
  const out: Predicted[] = [];
  let remaining = predicted.filter((p) => p.cv <= 0);
  while (out.length < n && remaining.length) {
    const F = remaining.map((p) => p.f);
    const front = nonDominated(F);
    const cd = crowdingDistance(front.map((i) => F[i]));
    const order = front.map((_, j) => j).sort((a, b) => cd[b] - cd[a] || a - b);
    for (const j of order) {
      if (out.length >= n) break;
      out.push(remaining[front[j]]);
    }
    const taken = new Set(front);
    remaining = remaining.filter((_, i) => !taken.has(i));
  }
  const infeasible = predicted.filter((p) => p.cv > 0).sort((a, b) => a.cv - b.cv);
  for (const p of infeasible) {
    if (out.length >= n) break;
    out.push(p);
  }
  return out;
}

/**
 * The next batch to evaluate for real. Random while fewer than `minTrainingSize` real results
 * exist, then from an NSGA-II run on freshly fitted predictors: its final population, minus
 * candidates already evaluated, pending or failed, topped up from the predicted front. Returns
 * no candidates when the budget is spent or nothing unseen is left. Throws while a batch is pending.
 */
export function propose(previous: SearchState): { state: SearchState; candidates: Candidate[] } {
  if (previous.pending.length) {
    throw new SearchError(
      `${previous.pending.length} candidates of loop ${previous.loop} are still pending: record or abandon them first`,
    );
  }
  const state = clone(previous);
  const o = state.options;
  const remaining = o.budget - evaluatedCount(state);
  if (remaining <= 0 || state.exhausted) return { state, candidates: [] };
  const space = spaceOf(state);
  const rng = new Rng(state.rng as RngState);
  const batchSize = Math.min(o.population, remaining);
  const seen = new Set([...state.evaluations.map((e) => e.key), ...state.failed]);
  const loop = state.loop + 1;
  let candidates: Candidate[];
  let predictors: Record<string, PredictorReport> | null = null;
  let refilled = 0;
  const minTraining = Math.max(o.minTrainingSize ?? o.population, o.predictor.folds);
  if (state.evaluations.length < minTraining) {
    candidates = randomUnseen(space, rng, batchSize, seen);
  } else {
    const fitted = fitPredictors(state, space);
    predictors = Object.fromEntries([...fitted].map(([m, p]) => [m, p.report]));
    const { final, predicted } = predictedSearch(state, space, fitted, rng);
    candidates = [];
    const take = (genes: number[]): void => {
      const subnet = decode(space, genes);
      const key = subnetKey(subnet);
      if (seen.has(key) || candidates.length >= batchSize) return;
      seen.add(key);
      candidates.push({ key, genes: canonicalGenes(space, genes), subnet });
    };
    for (const ind of final) take(ind.x);
    if (candidates.length < batchSize) {
      const before = candidates.length;
      const seenGenes = new Set([
        ...state.evaluations.map((e) => fastCanonicalKey(space, e.genes)),
        ...candidates.map((c) => fastCanonicalKey(space, c.genes)),
        ...state.failed.flatMap((k) => {
          try {
            return [fastCanonicalKey(space, encode(space, parseSubnetKey(k)))];
          } catch {
            return []; // a failed key outside this space cannot come back
          }
        }),
      ]);
      const unseen = [...predicted.entries()].filter(([k]) => !seenGenes.has(k)).map(([, p]) => p);
      for (const p of fillFromPredicted(unseen, batchSize - candidates.length)) take(p.genes);
      if (candidates.length < batchSize)
        candidates.push(...randomUnseen(space, rng, batchSize - candidates.length, seen));
      refilled = candidates.length - before;
    }
  }
  state.rng = rng.state();
  if (!candidates.length) {
    state.exhausted = true;
    return { state, candidates };
  }
  state.loop = loop;
  state.pending = candidates.map((c) => ({ key: c.key, genes: c.genes, loop }));
  state.history.push({
    loop,
    source: predictors ? 'predictor' : 'random',
    proposed: candidates.length,
    refilled,
    predictors,
    completed: false,
    evaluated: evaluatedCount(state),
    hypervolume: null,
    frontSize: 0,
  });
  return { state, candidates };
}

function checkValues(state: SearchState, key: string, values: Record<string, number>, where: string): void {
  for (const m of requiredMetrics(state.options)) {
    const v = values[m];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new SearchError(`${where}: result for ${key} has no finite value for "${m}"`);
    }
  }
}

/** Sets the reference point once (from the options, or from the results so far) and closes the loop's record. */
function closeLoopIfDone(state: SearchState): void {
  if (state.pending.length) return;
  const last = state.history[state.history.length - 1];
  if (!last || last.completed) return;
  if (!state.reference && state.evaluations.length) state.reference = deriveReference(state);
  const front = paretoFront(state);
  last.completed = true;
  last.evaluated = evaluatedCount(state);
  last.frontSize = front.length;
  last.hypervolume = hypervolumeOf(state);
}

/**
 * Reference point: each objective's configured reference, else the worst value seen so far
 * plus 10% of its range (a fixed point, set when the first batch completes).
 */
function deriveReference(state: SearchState): number[] {
  const o = state.options;
  const F = state.evaluations.map((e) => toMin(o, e.objectives));
  return o.objectives.map((obj, k) => {
    if (obj.reference !== undefined) return obj.direction === 'max' ? -obj.reference : obj.reference;
    const col = F.map((f) => f[k]);
    const worst = Math.max(...col);
    const range = worst - Math.min(...col);
    return worst + (range > 0 ? 0.1 * range : Math.max(Math.abs(worst) * 0.1, 1e-9));
  });
}

/** Records measured values of pending candidates (any subset; the rest stay pending). */
export function record(previous: SearchState, results: ResultInput[]): SearchState {
  const state = clone(previous);
  const pending = new Map(state.pending.map((p) => [p.key, p]));
  const seen = new Set<string>();
  results.forEach((r, i) => {
    const p = pending.get(r.key);
    if (!p) {
      const known = state.evaluations.some((e) => e.key === r.key);
      throw new SearchError(
        `results[${i}]: ${r.key} is ${known ? 'already recorded' : 'not a pending candidate'}`,
      );
    }
    if (seen.has(r.key)) throw new SearchError(`results[${i}]: ${r.key} is listed twice`);
    seen.add(r.key);
    checkValues(state, r.key, r.objectives, `results[${i}]`);
    state.evaluations.push({
      key: p.key,
      genes: p.genes,
      objectives: { ...r.objectives },
      loop: p.loop,
      source: 'search',
    });
  });
  state.pending = state.pending.filter((p) => !seen.has(p.key));
  closeLoopIfDone(state);
  return state;
}

/** Drops pending candidates whose evaluation failed for good; they are never proposed again. */
export function abandon(previous: SearchState, keys: string[]): SearchState {
  const state = clone(previous);
  const drop = new Set(keys);
  for (const k of keys) {
    if (!state.pending.some((p) => p.key === k))
      throw new SearchError(`abandon: ${k} is not a pending candidate`);
  }
  state.pending = state.pending.filter((p) => !drop.has(p.key));
  state.failed.push(...keys.filter((k) => !state.failed.includes(k)));
  closeLoopIfDone(state);
  return state;
}

/**
 * Warm start: adds earlier real results (e.g. from the evaluation cache) as priors. They train
 * the predictors and count on the fronts but not against the budget; keys already known and
 * sub-networks outside this space are skipped. Returns the state and how many were added.
 */
export function addPriors(
  previous: SearchState,
  results: ResultInput[],
): { state: SearchState; added: number; skipped: number } {
  const state = clone(previous);
  const space = spaceOf(state);
  const known = new Set([...state.evaluations.map((e) => e.key), ...state.pending.map((p) => p.key)]);
  let added = 0;
  let skipped = 0;
  results.forEach((r, i) => {
    let genes: number[];
    try {
      genes = encode(space, parseSubnetKey(r.key));
    } catch (e) {
      if (e instanceof SearchSpaceError) {
        skipped++;
        return;
      }
      throw e;
    }
    const key = subnetKey(decode(space, genes));
    if (known.has(key)) {
      skipped++;
      return;
    }
    checkValues(state, key, r.objectives, `priors[${i}]`);
    known.add(key);
    state.evaluations.push({ key, genes, objectives: { ...r.objectives }, loop: 0, source: 'prior' });
    added++;
  });
  return { state, added, skipped };
}

/** Changes the budget of real evaluations (e.g. extended while running). */
export function setBudget(previous: SearchState, budget: number): SearchState {
  if (!Number.isInteger(budget) || budget < 1)
    throw new SearchError(`budget must be a positive integer, got ${budget}`);
  const state = clone(previous);
  state.options.budget = budget;
  return state;
}

export function isDone(state: SearchState): boolean {
  return !state.pending.length && (state.exhausted || evaluatedCount(state) >= state.options.budget);
}

/** Feasible, non-dominated evaluations (priors included), in archive order. */
export function paretoFront(state: SearchState): Evaluation[] {
  const o = state.options;
  const feasible = state.evaluations.filter((e) => isFeasible(o, e.objectives));
  const F = feasible.map((e) => toMin(o, e.objectives));
  return nonDominated(F).map((i) => feasible[i]);
}

/** All evaluations by non-dominated rank (feasible ones; infeasible ones are left out). */
export function fronts(state: SearchState): Evaluation[][] {
  const o = state.options;
  let remaining = state.evaluations.filter((e) => isFeasible(o, e.objectives));
  const out: Evaluation[][] = [];
  while (remaining.length) {
    const F = remaining.map((e) => toMin(o, e.objectives));
    const front = new Set(nonDominated(F));
    out.push(remaining.filter((_, i) => front.has(i)));
    remaining = remaining.filter((_, i) => !front.has(i));
  }
  return out;
}

/** Hypervolume of the feasible front against the recorded reference (null before one is set). */
export function hypervolumeOf(state: SearchState, reference = state.reference): number | null {
  if (!reference) return null;
  const o = state.options;
  return hypervolume(
    paretoFront(state).map((e) => toMin(o, e.objectives)),
    reference,
  );
}

/** The reference point in the objectives' own units (max objectives un-negated). */
export function referencePoint(state: SearchState): Record<string, number> | null {
  if (!state.reference) return null;
  const ref = state.reference;
  return Object.fromEntries(
    state.options.objectives.map((obj, k) => [obj.name, obj.direction === 'max' ? -ref[k] : ref[k]]),
  );
}

export interface SearchProgressView {
  loop: number;
  evaluated: number;
  priors: number;
  failed: number;
  pending: number;
  budget: number;
  done: boolean;
  hypervolume: number | null;
  reference: Record<string, number> | null;
  front: { key: string; subnet: SubnetSpec; objectives: Record<string, number> }[];
  /** Last fitted predictors' CV error (MAPE, a fraction) per metric. */
  predictorError: Record<string, number> | null;
  history: LoopRecord[];
}

export function progress(state: SearchState): SearchProgressView {
  const lastFit = [...state.history].reverse().find((h) => h.predictors);
  return {
    loop: state.loop,
    evaluated: evaluatedCount(state),
    priors: state.evaluations.length - evaluatedCount(state),
    failed: state.failed.length,
    pending: state.pending.length,
    budget: state.options.budget,
    done: isDone(state),
    hypervolume: hypervolumeOf(state),
    reference: referencePoint(state),
    front: paretoFront(state).map((e) => ({
      key: e.key,
      subnet: parseSubnetKey(e.key),
      objectives: e.objectives,
    })),
    predictorError: lastFit?.predictors
      ? Object.fromEntries(Object.entries(lastFit.predictors).map(([m, r]) => [m, r.cvMape]))
      : null,
    history: state.history,
  };
}
