import { crowdingDistance, dominance, nonDominatedSort, violation } from './pareto';
import type { Rng } from './rng';

/**
 * NSGA-II with pymoo 0.6 semantics: random sampling, binary tournament (constraint violation,
 * then Pareto dominance, then crowding distance), SBX crossover, polynomial mutation, rounding
 * repair for integer problems, duplicate elimination and rank-and-crowding survival with
 * infeasible solutions ranked after feasible ones by their violation. All objectives minimised,
 * constraints feasible where g <= 0.
 */
export interface NsgaProblem {
  nVar: number;
  lower: number[];
  upper: number[];
  /** Integer genes: sampling is uniform over integers, crossover and mutation round their output. */
  integer: boolean;
  /** Objectives (minimised) and constraint values (feasible iff every g <= 0) of a batch. */
  evaluate(X: number[][]): { F: number[][]; G?: number[][] };
  /** Identity for duplicate elimination (default: the gene vector itself). */
  duplicateKey?(x: number[]): string;
}

export interface NsgaOptions {
  popSize: number;
  /** Generations including the initial one; evaluations are popSize * generations at most. */
  generations: number;
  crossoverProb: number;
  crossoverEta: number;
  /** Probability that an offspring is mutated at all (pymoo's `prob`). */
  mutationProb: number;
  mutationEta: number;
  /** Probability per variable once an individual mutates; pymoo's default min(0.5, 1/nVar). */
  mutationVarProb?: number;
  /** Start from these gene vectors (topped up with random samples) instead of random ones. */
  initial?: number[][];
  /** Called after each generation's survival (e.g. to record progress). */
  onGeneration?(generation: number, pop: readonly Individual[]): void;
}

export const NSGA_DEFAULTS = {
  crossoverProb: 0.9,
  crossoverEta: 15,
  mutationProb: 0.9,
  mutationEta: 20,
};

export interface Individual {
  x: number[];
  f: number[];
  g: number[];
  cv: number;
  rank: number;
  crowding: number;
  key: string;
}

export interface NsgaResult {
  pop: Individual[];
  evaluations: number;
  generations: number;
}

const MAX_MATING_ROUNDS = 100;

const keyBuffer = new Float64Array(1);
const keyWords = new Uint32Array(keyBuffer.buffer);

/**
 * Identity of a real vector: a 64-bit hash of its exact bit patterns (formatting 30 floats as
 * text dominated the run time). Equal vectors always collide; distinct ones with odds ~2^-64.
 */
function realKey(x: number[]): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < x.length; i++) {
    keyBuffer[0] = x[i] === 0 ? 0 : x[i]; // -0 and 0 are the same gene
    for (let w = 0; w < 2; w++) {
      const v = keyWords[w];
      h1 = Math.imul(h1 ^ v, 0x01000193) >>> 0;
      h2 = Math.imul(h2 ^ ((v >>> 16) | (v << 16)), 0x5bd1e995) >>> 0;
      h2 = (h2 ^ (h2 >>> 13)) >>> 0;
    }
  }
  return `${h1.toString(36)}:${h2.toString(36)}`;
}

function clampRound(x: number[], problem: NsgaProblem): number[] {
  for (let i = 0; i < x.length; i++) {
    let v = x[i];
    if (v < problem.lower[i]) v = problem.lower[i];
    if (v > problem.upper[i]) v = problem.upper[i];
    x[i] = problem.integer ? Math.round(v) : v;
  }
  return x;
}

function sample(problem: NsgaProblem, rng: Rng): number[] {
  const x = new Array<number>(problem.nVar);
  for (let i = 0; i < problem.nVar; i++) {
    x[i] = problem.integer
      ? rng.int(problem.lower[i], problem.upper[i])
      : problem.lower[i] + rng.random() * (problem.upper[i] - problem.lower[i]);
  }
  return x;
}

function sbxBetaQ(beta: number, eta: number, rand: number): number {
  const alpha = 2 - Math.pow(beta, -(eta + 1));
  return rand <= 1 / alpha
    ? Math.pow(rand * alpha, 1 / (eta + 1))
    : Math.pow(1 / (2 - rand * alpha), 1 / (eta + 1));
}

/** pymoo's cross_sbx for one pair: prob_var 0.5, prob_bin 0.5, bounds clamped. */
export function sbx(
  p1: number[],
  p2: number[],
  lower: number[],
  upper: number[],
  eta: number,
  rng: Rng,
): [number[], number[]] {
  const c1 = [...p1];
  const c2 = [...p2];
  for (let i = 0; i < p1.length; i++) {
    if (rng.random() >= 0.5) continue;
    if (Math.abs(p1[i] - p2[i]) <= 1e-14 || lower[i] === upper[i]) continue;
    const y1 = Math.min(p1[i], p2[i]);
    const y2 = Math.max(p1[i], p2[i]);
    const delta = y2 - y1;
    const rand = rng.random();
    let v1 = 0.5 * (y1 + y2 - sbxBetaQ(1 + (2 * (y1 - lower[i])) / delta, eta, rand) * delta);
    let v2 = 0.5 * (y1 + y2 + sbxBetaQ(1 + (2 * (upper[i] - y2)) / delta, eta, rand) * delta);
    if (rng.random() < 0.5) [v1, v2] = [v2, v1];
    c1[i] = Math.min(upper[i], Math.max(lower[i], v1));
    c2[i] = Math.min(upper[i], Math.max(lower[i], v2));
  }
  return [c1, c2];
}

/** pymoo's mut_pm on one individual, each variable mutated with probability `varProb`. */
export function polynomialMutation(
  x: number[],
  lower: number[],
  upper: number[],
  eta: number,
  varProb: number,
  rng: Rng,
): number[] {
  const y = [...x];
  const mutPow = 1 / (eta + 1);
  for (let i = 0; i < x.length; i++) {
    if (rng.random() >= varProb || lower[i] === upper[i]) continue;
    const span = upper[i] - lower[i];
    const delta1 = (x[i] - lower[i]) / span;
    const delta2 = (upper[i] - x[i]) / span;
    const rand = rng.random();
    let deltaq: number;
    if (rand <= 0.5) {
      const val = 2 * rand + (1 - 2 * rand) * Math.pow(1 - delta1, eta + 1);
      deltaq = Math.pow(val, mutPow) - 1;
    } else {
      const val = 2 * (1 - rand) + 2 * (rand - 0.5) * Math.pow(1 - delta2, eta + 1);
      deltaq = 1 - Math.pow(val, mutPow);
    }
    y[i] = Math.min(upper[i], Math.max(lower[i], x[i] + deltaq * span));
  }
  return y;
}

function evaluateAll(problem: NsgaProblem, X: number[][], keys: string[]): Individual[] {
  if (!X.length) return [];
  const { F, G } = problem.evaluate(X);
  return X.map((x, i) => {
    const g = G ? G[i] : [];
    return { x, f: F[i], g, cv: violation(g), rank: Infinity, crowding: 0, key: keys[i] };
  });
}

/**
 * pymoo's RankAndCrowding survival behind its feasibility filter: feasible solutions by
 * non-dominated rank then crowding (the split front loses its most crowded, ties broken at
 * random), then infeasible ones by increasing violation. Sets rank and crowding.
 */
export function survive(pop: Individual[], n: number, rng: Rng): Individual[] {
  const feasible = pop.filter((p) => p.cv <= 0);
  const infeasible = pop.filter((p) => p.cv > 0).sort((a, b) => a.cv - b.cv);
  const survivors: Individual[] = [];
  const fronts = nonDominatedSort(
    feasible.map((p) => p.f),
    Math.min(n, feasible.length),
  );
  for (let k = 0; k < fronts.length && survivors.length < n; k++) {
    const front = fronts[k];
    const cd = crowdingDistance(front.map((i) => feasible[i].f));
    front.forEach((i, j) => {
      feasible[i].rank = k;
      feasible[i].crowding = cd[j];
    });
    if (survivors.length + front.length <= n) {
      survivors.push(...front.map((i) => feasible[i]));
    } else {
      // randomized_argsort, descending: shuffle then stable sort
      const order = rng.permutation(front.length).sort((a, b) => {
        const ca = cd[a];
        const cb = cd[b];
        return ca === cb ? 0 : ca > cb ? -1 : 1;
      });
      for (const j of order.slice(0, n - survivors.length)) survivors.push(feasible[front[j]]);
    }
  }
  for (const p of infeasible) {
    if (survivors.length >= n) break;
    p.rank = Infinity;
    p.crowding = 0;
    survivors.push(p);
  }
  return survivors;
}

/** pymoo's binary_tournament with 'comp_by_dom_and_crowding'. */
function tournament(a: Individual, b: Individual, rng: Rng): Individual {
  if (a.cv > 0 || b.cv > 0) {
    if (a.cv < b.cv) return a;
    if (b.cv < a.cv) return b;
    return rng.random() < 0.5 ? a : b;
  }
  const rel = dominance(a.f, b.f);
  if (rel === 1) return a;
  if (rel === -1) return b;
  if (a.crowding > b.crowding) return a;
  if (b.crowding > a.crowding) return b;
  return rng.random() < 0.5 ? a : b;
}

/** Parents for `nMatings` matings: pymoo's TournamentSelection over random permutations. */
function selectParents(pop: Individual[], nMatings: number, rng: Rng): [Individual, Individual][] {
  const needed = nMatings * 2 * 2;
  const perm: number[] = [];
  while (perm.length < needed) perm.push(...rng.permutation(pop.length));
  const winners: Individual[] = [];
  for (let t = 0; t < nMatings * 2; t++)
    winners.push(tournament(pop[perm[2 * t]], pop[perm[2 * t + 1]], rng));
  const pairs: [Individual, Individual][] = [];
  for (let m = 0; m < nMatings; m++) pairs.push([winners[2 * m], winners[2 * m + 1]]);
  return pairs;
}

export class Nsga2 {
  readonly options: Required<Omit<NsgaOptions, 'initial' | 'onGeneration'>> &
    Pick<NsgaOptions, 'initial' | 'onGeneration'>;
  private readonly keyOf: (x: number[]) => string;

  constructor(
    private readonly problem: NsgaProblem,
    options: Partial<NsgaOptions> & Pick<NsgaOptions, 'popSize' | 'generations'>,
    private readonly rng: Rng,
  ) {
    if (problem.lower.length !== problem.nVar || problem.upper.length !== problem.nVar) {
      throw new RangeError(`bounds must have ${problem.nVar} entries`);
    }
    this.options = {
      ...NSGA_DEFAULTS,
      mutationVarProb: Math.min(0.5, 1 / problem.nVar),
      ...options,
    };
    this.keyOf = problem.duplicateKey ?? (problem.integer ? (x) => x.join(',') : realKey);
  }

  /** Initial population: the given vectors (repaired), then random samples, duplicates dropped. */
  private initialize(): Individual[] {
    const { popSize, initial } = this.options;
    const X: number[][] = [];
    const keys: string[] = [];
    const seen = new Set<string>();
    const add = (x: number[]) => {
      const key = this.keyOf(x);
      if (seen.has(key)) return;
      seen.add(key);
      X.push(x);
      keys.push(key);
    };
    for (const x of initial ?? []) {
      if (X.length >= popSize) break;
      add(clampRound([...x], this.problem));
    }
    for (let tries = 0; X.length < popSize && tries < popSize * MAX_MATING_ROUNDS; tries++)
      add(sample(this.problem, this.rng));
    return evaluateAll(this.problem, X, keys);
  }

  /** pymoo's mating loop: select, cross, mutate, repair, drop duplicates, until n offspring. */
  private offspring(pop: Individual[], n: number): { X: number[][]; keys: string[] } {
    const { lower, upper } = this.problem;
    const o = this.options;
    const seen = new Set(pop.map((p) => p.key));
    const X: number[][] = [];
    const keys: string[] = [];
    for (let round = 0; round < MAX_MATING_ROUNDS && X.length < n; round++) {
      const remaining = n - X.length;
      for (const [a, b] of selectParents(pop, Math.ceil(remaining / 2), this.rng)) {
        let children: number[][] =
          this.rng.random() < o.crossoverProb
            ? sbx(a.x, b.x, lower, upper, o.crossoverEta, this.rng)
            : [[...a.x], [...b.x]];
        children = children.map((c) => clampRound(c, this.problem));
        for (let c of children) {
          if (this.rng.random() < o.mutationProb) {
            c = clampRound(
              polynomialMutation(c, lower, upper, o.mutationEta, o.mutationVarProb, this.rng),
              this.problem,
            );
          }
          const key = this.keyOf(c);
          if (seen.has(key) || X.length >= n) continue;
          seen.add(key);
          X.push(c);
          keys.push(key);
        }
      }
    }
    return { X, keys };
  }

  run(): NsgaResult {
    const { popSize, generations } = this.options;
    let pop = this.initialize();
    let evaluations = pop.length;
    pop = survive(pop, pop.length, this.rng);
    this.options.onGeneration?.(1, pop);
    let gen = 1;
    for (; gen < generations; gen++) {
      const { X, keys } = this.offspring(pop, popSize);
      if (!X.length) break; // the space is exhausted around this population
      const off = evaluateAll(this.problem, X, keys);
      evaluations += off.length;
      pop = survive([...pop, ...off], popSize, this.rng);
      this.options.onGeneration?.(gen + 1, pop);
    }
    return { pop, evaluations, generations: gen };
  }
}
