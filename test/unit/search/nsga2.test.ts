import { Nsga2, polynomialMutation, sbx } from '../../../src/search/nsga2';
import { hypervolume, nonDominated } from '../../../src/search/pareto';
import { zdt, zdtFront } from '../../../src/search/problems';
import { Rng } from '../../../src/search/rng';

describe('NSGA-II', () => {
  it.each(['zdt1', 'zdt2'] as const)(
    'reaches 95%% of the true front hypervolume on %s within 25,000 evaluations',
    (name) => {
      const problem = zdt(name, 30);
      const result = new Nsga2(problem, { popSize: 100, generations: 250 }, Rng.fromSeed(11)).run();
      expect(result.evaluations).toBeLessThanOrEqual(25_000);
      const F = result.pop.map((p) => p.f);
      const ref = [1.1, 1.1];
      const ratio =
        hypervolume(
          nonDominated(F).map((i) => F[i]),
          ref,
        ) / hypervolume(zdtFront(name), ref);
      expect(ratio).toBeGreaterThanOrEqual(0.95);
      expect(ratio).toBeLessThanOrEqual(1.0001);
    },
  );

  it('keeps integer genes within bounds and the population free of duplicates', () => {
    const lower = [0, 0, 0, 0, 0];
    const upper = [3, 1, 1, 1, 1];
    const problem = {
      nVar: 5,
      lower,
      upper,
      integer: true,
      evaluate: (X: number[][]) => ({
        F: X.map((x) => [x.reduce((s, v) => s + v, 0), -x[0] * (1 + x[1]) + x[2] * x[3]]),
      }),
    };
    let seenGenerations = 0;
    const result = new Nsga2(
      problem,
      {
        popSize: 16,
        generations: 30,
        onGeneration: (_g, pop) => {
          seenGenerations++;
          const keys = pop.map((p) => p.x.join(','));
          expect(new Set(keys).size).toBe(keys.length);
          for (const p of pop)
            p.x.forEach((v, i) => expect(Number.isInteger(v) && v >= lower[i] && v <= upper[i]).toBe(true));
        },
      },
      Rng.fromSeed(2),
    ).run();
    expect(seenGenerations).toBe(result.generations);
    expect(result.pop).toHaveLength(16);
  });

  it('constraint domination drives the population into the feasible region', () => {
    // ZDT1 with the constraint x0 >= 0.6 (g = 0.6 - x0 <= 0)
    const base = zdt('zdt1', 10);
    const problem = {
      ...base,
      evaluate: (X: number[][]) => ({ F: X.map(base.objectives), G: X.map((x) => [0.6 - x[0]]) }),
    };
    const result = new Nsga2(problem, { popSize: 40, generations: 60 }, Rng.fromSeed(4)).run();
    for (const p of result.pop) {
      expect(p.cv).toBe(0);
      expect(p.x[0]).toBeGreaterThanOrEqual(0.6);
    }
  });

  it('is deterministic for a seed', () => {
    const run = () =>
      new Nsga2(zdt('zdt2', 8), { popSize: 20, generations: 15 }, Rng.fromSeed(99)).run().pop.map((p) => p.x);
    expect(run()).toEqual(run());
  });

  it('SBX and polynomial mutation stay within bounds and leave agreeing genes alone', () => {
    const rng = Rng.fromSeed(8);
    const lower = [0, 0, 0];
    const upper = [1, 1, 1];
    for (let t = 0; t < 200; t++) {
      const [c1, c2] = sbx([0.1, 0.5, 0.9], [0.8, 0.5, 0.2], lower, upper, 15, rng);
      expect(c1[1]).toBe(0.5);
      expect(c2[1]).toBe(0.5);
      for (const v of [...c1, ...c2]) expect(v >= 0 && v <= 1).toBe(true);
      const m = polynomialMutation([0, 1, 0.5], lower, upper, 20, 1, rng);
      for (const v of m) expect(v >= 0 && v <= 1).toBe(true);
    }
  });
});
