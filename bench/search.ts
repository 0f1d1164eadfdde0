/**
 * `llama-nas bench search`: the LINAS loop time on the 33-gene LLaMA-2 space (predictor fitting
 * plus 20,000 predicted evaluations, target <= 2 s), LINAS against random search on a synthetic
 * NAS objective, and NSGA-II against random search on ZDT1-3 after the same budget.
 */
import {
  createSearch,
  decode,
  featureRow,
  hypervolume,
  hypervolumeOf,
  isDone,
  llama2Space,
  nonDominated,
  Nsga2,
  Predictor,
  propose,
  record,
  requiredMetrics,
  Rng,
  runSearch,
  type Candidate,
  type SearchState,
} from '../src/search';
import {
  syntheticNasObjectives,
  syntheticNasOptions,
  zdt,
  zdtFront,
  type ZdtName,
} from '../src/search/problems';

const TARGET_LOOP_SECONDS = 2;
const ZDT_BUDGET = 25_000;
const ZDT_POP = 100;
const ZDT_REFERENCE = [1.1, 1.1];
/** Random search rarely gets below f2 = 1.1 on 30 variables; this wider box shows how far it gets. */
const ZDT_WIDE_REFERENCE = [1.1, 10];
const NAS_SEEDS = [0, 1, 2];

const space = llama2Space();

function evaluateNas(candidates: Candidate[]) {
  return candidates.map((c) => ({
    key: c.key,
    objectives: syntheticNasObjectives(space, decode(space, c.genes)),
  }));
}

interface LoopTiming {
  loop: number;
  trainingSamples: number;
  seconds: number;
  cpuSeconds: number;
  fitSeconds: number;
  models: Record<string, string>;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function cpuSeconds(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

/** Full-setting LINAS (pop 50, budget 250, 20,000 predicted evaluations), each propose timed. */
function timedLinas(seed: number): { state: SearchState; loops: LoopTiming[] } {
  let state = createSearch(syntheticNasOptions(seed));
  const loops: LoopTiming[] = [];
  while (!isDone(state)) {
    const training = state.evaluations.length;
    // the fitting share, measured separately on the same data
    let fitSeconds = 0;
    if (training >= state.options.population) {
      const rows = state.evaluations.map((e) => featureRow(space, e.genes));
      const t = process.hrtime.bigint();
      for (const m of requiredMetrics(state.options))
        Predictor.fit(
          rows,
          state.evaluations.map((e) => e.objectives[m]),
        );
      fitSeconds = seconds(t);
    }
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const step = propose(state);
    const wall = seconds(t0);
    const cpu = cpuSeconds(c0);
    const h = step.state.history[step.state.history.length - 1];
    if (h.source === 'predictor') {
      loops.push({
        loop: h.loop,
        trainingSamples: training,
        seconds: wall,
        cpuSeconds: cpu,
        fitSeconds,
        models: Object.fromEntries(
          Object.entries(h.predictors ?? {}).map(([m, r]) => [
            m,
            `${r.model} (CV MAPE ${(100 * r.cvMape).toFixed(3)}%)`,
          ]),
        ),
      });
    }
    state = record(step.state, evaluateNas(step.candidates));
  }
  return { state, loops };
}

function zdtComparison(name: ZdtName) {
  const problem = zdt(name, 30);
  const nsga = new Nsga2(
    problem,
    { popSize: ZDT_POP, generations: ZDT_BUDGET / ZDT_POP },
    Rng.fromSeed(1),
  ).run();
  const F = nsga.pop.map((p) => p.f);
  const nsgaHv = hypervolume(
    nonDominated(F).map((i) => F[i]),
    ZDT_REFERENCE,
  );
  const rng = Rng.fromSeed(1);
  const R = Array.from({ length: ZDT_BUDGET }, () =>
    problem.objectives(Array.from({ length: 30 }, () => rng.random())),
  );
  const randomHv = hypervolume(
    nonDominated(R).map((i) => R[i]),
    ZDT_REFERENCE,
  );
  const trueHv = hypervolume(zdtFront(name), ZDT_REFERENCE);
  const wide = (points: number[][]) =>
    hypervolume(
      nonDominated(points).map((i) => points[i]),
      ZDT_WIDE_REFERENCE,
    );
  return {
    nsga2_hypervolume_wide: wide(F),
    random_hypervolume_wide: wide(R),
    evaluations: nsga.evaluations,
    nsga2_hypervolume: nsgaHv,
    random_hypervolume: randomHv,
    true_front_hypervolume: trueHv,
    nsga2_ratio: nsgaHv / trueHv,
    random_ratio: randomHv / trueHv,
  };
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const { state, loops } = timedLinas(NAS_SEEDS[0]);
  const loopSeconds = Math.max(...loops.map((l) => l.seconds));
  const nas: { seed: number; linas_hypervolume: number; random_hypervolume: number }[] = [];
  for (const seed of NAS_SEEDS) {
    const linas =
      seed === NAS_SEEDS[0] ? state : (await runSearch(syntheticNasOptions(seed), evaluateNas)).state;
    const random = (
      await runSearch({ ...syntheticNasOptions(seed), minTrainingSize: Number.MAX_SAFE_INTEGER }, evaluateNas)
    ).state;
    nas.push({ seed, linas_hypervolume: hypervolumeOf(linas)!, random_hypervolume: hypervolumeOf(random)! });
  }
  const zdtResults = Object.fromEntries(
    (['zdt1', 'zdt2', 'zdt3'] as const).map((n) => [n, zdtComparison(n)]),
  );

  const out = {
    loop_seconds: loopSeconds,
    loop_seconds_mean: loops.reduce((s, l) => s + l.seconds, 0) / loops.length,
    loop_cpu_seconds: Math.max(...loops.map((l) => l.cpuSeconds)),
    target_loop_seconds: TARGET_LOOP_SECONDS,
    meets_target: loopSeconds <= TARGET_LOOP_SECONDS,
    predicted_evaluations_per_loop: state.options.predictorEvaluations,
    loops,
    nas_synthetic: { budget: state.options.budget, population: state.options.population, seeds: nas },
    zdt: {
      budget: ZDT_BUDGET,
      population: ZDT_POP,
      reference: ZDT_REFERENCE,
      wide_reference: ZDT_WIDE_REFERENCE,
      ...zdtResults,
    },
  };
  if (json) {
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  console.log(
    `LINAS loop (33-gene LLaMA-2 space, fit + ${out.predicted_evaluations_per_loop} predicted evaluations): ` +
      `max ${loopSeconds.toFixed(2)} s, mean ${out.loop_seconds_mean.toFixed(2)} s, ` +
      `max CPU ${out.loop_cpu_seconds.toFixed(2)} s (target <= ${TARGET_LOOP_SECONDS} s)`,
  );
  for (const l of loops) {
    console.log(
      `  loop ${l.loop}: ${l.trainingSamples} samples, ${l.seconds.toFixed(2)} s (fitting ${l.fitSeconds.toFixed(2)} s); ` +
        Object.entries(l.models)
          .map(([m, d]) => `${m}: ${d}`)
          .join(', '),
    );
  }
  for (const r of nas) {
    console.log(
      `synthetic NAS seed ${r.seed}: hypervolume LINAS ${r.linas_hypervolume.toFixed(4)} vs random ${r.random_hypervolume.toFixed(4)} (250 evaluations)`,
    );
  }
  for (const [name, r] of Object.entries(zdtResults)) {
    console.log(
      `${name}: hypervolume NSGA-II ${r.nsga2_hypervolume.toFixed(4)} (${(100 * r.nsga2_ratio).toFixed(1)}% of the true front) ` +
        `vs random ${r.random_hypervolume.toFixed(4)} (${(100 * r.random_ratio).toFixed(1)}%) after ${ZDT_BUDGET} evaluations; ` +
        `reference (1.1, 10): ${r.nsga2_hypervolume_wide.toFixed(3)} vs ${r.random_hypervolume_wide.toFixed(3)}`,
    );
  }
}
