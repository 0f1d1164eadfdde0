import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  abandon,
  addPriors,
  createSearch,
  decode,
  fronts,
  hypervolumeOf,
  isDone,
  loadState,
  paretoFront,
  progress,
  propose,
  record,
  referencePoint,
  runSearch,
  setBudget,
  subnetKey,
  type SearchState,
} from '../../../src/search';
import { evaluate, measure, nasOptions, space } from './nas-fixture';

function step(state: SearchState): SearchState {
  const { state: next, candidates } = propose(state);
  return record(next, evaluate(candidates));
}

describe('LINAS ask/tell', () => {
  const seeds = [10, 11, 12, 13, 14];
  const linasRuns: SearchState[] = [];
  const randomRuns: SearchState[] = [];
  let full: SearchState;
  beforeAll(async () => {
    for (const seed of seeds) {
      linasRuns.push((await runSearch(nasOptions(seed), evaluate)).state);
      // random search: the same machinery with predictors never switched on
      randomRuns.push((await runSearch(nasOptions(seed, { minTrainingSize: 1_000_000 }), evaluate)).state);
    }
    full = linasRuns[0];
  });

  it('proposes a random, canonical, duplicate-free first population', () => {
    const { state, candidates } = propose(createSearch(nasOptions(3)));
    expect(candidates).toHaveLength(50);
    expect(new Set(candidates.map((c) => c.key)).size).toBe(50);
    for (const c of candidates) {
      expect(decode(space, c.genes)).toEqual(c.subnet);
      expect(subnetKey(c.subnet)).toBe(c.key);
      c.genes.slice(1 + c.subnet.layers).forEach((g) => expect(g).toBe(0));
    }
    expect(state.pending).toHaveLength(50);
    expect(state.history[0]).toMatchObject({ loop: 1, source: 'random', completed: false });
    expect(() => propose(state)).toThrow(/50 candidates of loop 1 are still pending/);
  });

  it('runs the budget in 5 loops, never evaluating a sub-network twice', () => {
    expect(isDone(full)).toBe(true);
    expect(full.evaluations).toHaveLength(250);
    expect(new Set(full.evaluations.map((e) => e.key)).size).toBe(250);
    expect(full.history.map((h) => h.source)).toEqual([
      'random',
      'predictor',
      'predictor',
      'predictor',
      'predictor',
    ]);
    expect(full.history.every((h) => h.completed)).toBe(true);
    for (const h of full.history.slice(1)) {
      expect(Object.keys(h.predictors ?? {})).toEqual(['accuracy', 'size_gib']);
      expect(h.predictors?.size_gib.cvMape).toBeLessThan(0.01); // size is linear in the one-hot features
    }
    const hvs = full.history.map((h) => h.hypervolume ?? -1);
    for (let i = 1; i < hvs.length; i++) expect(hvs[i]).toBeGreaterThanOrEqual(hvs[i - 1]);
    expect(propose(full).candidates).toEqual([]);
    expect(referencePoint(full)).toEqual({ accuracy: 0.3, size_gib: 13 });
  });

  it('keeps the state small plain JSON', () => {
    const json = JSON.stringify(full);
    expect(json.length).toBeLessThan(1_000_000);
    expect(loadState(JSON.parse(json))).toEqual(full);
    const view = progress(full);
    expect(view.evaluated).toBe(250);
    expect(view.front.length).toBeGreaterThan(3);
    expect(view.predictorError?.accuracy).toBeGreaterThan(0);
    expect(view.hypervolume).toBe(full.history[4].hypervolume);
    const ranked = fronts(full);
    expect(ranked[0].map((e) => e.key)).toEqual(paretoFront(full).map((e) => e.key));
    expect(ranked.flat()).toHaveLength(250);
    // nothing in a later front dominates anything in an earlier one
    const better = (a: Record<string, number>, b: Record<string, number>) =>
      a.accuracy >= b.accuracy &&
      a.size_gib <= b.size_gib &&
      (a.accuracy > b.accuracy || a.size_gib < b.size_gib);
    for (const e of ranked[1]) expect(ranked[0].some((f) => better(f.objectives, e.objectives))).toBe(true);
    for (const e of ranked[1]) expect(ranked[0].some((f) => better(e.objectives, f.objectives))).toBe(false);
  });

  it('is deterministic across serialise and restore, also in another process', () => {
    let a = createSearch(nasOptions(5, { budget: 60, population: 20, predictorEvaluations: 1000 }));
    let b = a;
    while (!isDone(a)) {
      a = step(a);
      b = step(loadState(JSON.parse(JSON.stringify(b))));
    }
    expect(b).toEqual(a);

    const dir = mkdtempSync(join(tmpdir(), 'linas-'));
    try {
      const mid = step(
        step(createSearch(nasOptions(6, { budget: 60, population: 20, predictorEvaluations: 1000 }))),
      );
      writeFileSync(join(dir, 'state.json'), JSON.stringify(mid));
      const child = spawnSync(
        process.execPath,
        [
          '-r',
          'tsx/cjs',
          join(__dirname, 'restore-child.ts'),
          join(dir, 'state.json'),
          join(dir, 'out.json'),
        ],
        { encoding: 'utf8' },
      );
      expect(child.stderr).not.toMatch(/Error/);
      expect(child.status).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'))).toEqual(
        JSON.parse(JSON.stringify(propose(mid))),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('beats random search with the same 250 evaluations on hypervolume, over 5 seeds', () => {
    seeds.forEach((_, i) => {
      const random = randomRuns[i];
      expect(random.history.every((h) => h.source === 'random')).toBe(true);
      expect(random.evaluations).toHaveLength(250);
      expect(random.reference).toEqual(linasRuns[i].reference);
      expect(hypervolumeOf(linasRuns[i])!).toBeGreaterThan(hypervolumeOf(random)!);
    });
  });

  it('keeps the front feasible under a size constraint and steers proposals into it', async () => {
    const maxGiB = 9;
    const { state } = await runSearch(
      nasOptions(2, { constraints: [{ metric: 'size_gib', max: maxGiB }], budget: 150 }),
      evaluate,
    );
    const front = paretoFront(state);
    expect(front.length).toBeGreaterThan(0);
    for (const e of front) expect(e.objectives.size_gib).toBeLessThanOrEqual(maxGiB);
    const infeasible = state.evaluations.filter((e) => e.objectives.size_gib > maxGiB);
    expect(infeasible.length).toBeGreaterThan(0); // the random first batch has some
    const late = state.evaluations.filter((e) => e.loop >= 2);
    const lateFeasible = late.filter((e) => e.objectives.size_gib <= maxGiB).length;
    expect(lateFeasible / late.length).toBeGreaterThan(0.9);
  });

  it('handles three objectives with an exact 3-D hypervolume', async () => {
    const { state } = await runSearch(
      nasOptions(4, {
        objectives: [
          { name: 'accuracy', direction: 'max', reference: 0.3 },
          { name: 'size_gib', direction: 'min', reference: 13 },
          { name: 'latency_ms', direction: 'min', reference: 70 },
        ],
        budget: 100,
      }),
      evaluate,
    );
    expect(state.history.every((h) => h.hypervolume !== null && h.hypervolume > 0)).toBe(true);
    expect(Object.keys(state.history[1].predictors ?? {})).toEqual(['accuracy', 'size_gib', 'latency_ms']);
  });

  it('validates results, abandons failures for good and extends the budget', () => {
    const { state, candidates } = propose(createSearch(nasOptions(7, { population: 10, budget: 20 })));
    expect(() => record(state, [{ key: '24:5504x24', objectives: measure(candidates[0]) }])).toThrow(
      /not a pending candidate/,
    );
    expect(() => record(state, [{ key: candidates[0].key, objectives: { accuracy: 0.4 } }])).toThrow(
      /no finite value for "size_gib"/,
    );
    const partial = record(state, evaluate(candidates.slice(0, 7)));
    expect(partial.pending).toHaveLength(3);
    expect(partial.history[0].completed).toBe(false);
    expect(() => record(partial, evaluate(candidates.slice(0, 1)))).toThrow(/already recorded/);
    const failedKeys = candidates.slice(7).map((c) => c.key);
    const closed = abandon(partial, failedKeys);
    expect(closed.history[0]).toMatchObject({ completed: true, evaluated: 7 });
    let s = closed;
    while (!isDone(s)) s = step(s);
    expect(s.evaluations).toHaveLength(20);
    for (const k of failedKeys) expect(s.evaluations.some((e) => e.key === k)).toBe(false);
    s = setBudget(s, 30);
    expect(isDone(s)).toBe(false);
    s = step(s);
    expect(s.evaluations).toHaveLength(30);
    expect(isDone(s)).toBe(true);
  });

  it('warm-starts from earlier results: priors train the predictors without using the budget', () => {
    const priors = full.evaluations.map((e) => ({ key: e.key, objectives: e.objectives }));
    const { state, added, skipped } = addPriors(createSearch(nasOptions(8, { budget: 50 })), [
      ...priors,
      { key: '12:5504x12', objectives: { accuracy: 0.5, size_gib: 3 } }, // outside this space
    ]);
    expect(added).toBe(250);
    expect(skipped).toBe(1);
    const next = propose(state);
    expect(next.state.history[0].source).toBe('predictor');
    const known = new Set(priors.map((p) => p.key));
    for (const c of next.candidates) expect(known.has(c.key)).toBe(false);
    const done = record(next.state, evaluate(next.candidates));
    expect(isDone(done)).toBe(true);
    expect(progress(done)).toMatchObject({ evaluated: 50, priors: 250 });
  });

  it('rejects bad options and states with the field named', () => {
    expect(() => createSearch({ ...nasOptions(0), population: 1 })).toThrow(/field population/);
    expect(() =>
      createSearch({
        ...nasOptions(0),
        objectives: [
          { name: 'a', direction: 'min' },
          { name: 'a', direction: 'max' },
        ],
      }),
    ).toThrow(/listed twice/);
    expect(() => loadState({ ...full, rng: [1, 2] }, 'state.json')).toThrow(/state.json: field rng/);
  });
});
