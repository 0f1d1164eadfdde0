import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, EvaluationCache, runSearch, type Candidate } from '../../../src/search';
import { evaluate, nasOptions } from './nas-fixture';

describe('evaluation cache', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cache-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const ctx = { task: 'mmlu', settings: { shots: 5, limit: 100, checkpoint: 'abc' }, quantization: 'none' };

  it('stores and finds results per sub-network, task, settings and quantization', () => {
    const cache = new EvaluationCache(dir);
    cache.put(ctx, '24:5504x24', { accuracy: 0.41, size_gib: 7.5 }, { seconds: 12 });
    expect(cache.get(ctx, '24:5504x24')?.values).toEqual({ accuracy: 0.41, size_gib: 7.5 });
    // settings are compared as canonical JSON: key order does not matter
    expect(cache.has({ ...ctx, settings: { checkpoint: 'abc', limit: 100, shots: 5 } }, '24:5504x24')).toBe(
      true,
    );
    expect(cache.has({ ...ctx, task: 'arc_easy' }, '24:5504x24')).toBe(false);
    expect(cache.has({ ...ctx, settings: { ...ctx.settings, shots: 0 } }, '24:5504x24')).toBe(false);
    expect(cache.has({ ...ctx, quantization: 'int8' }, '24:5504x24')).toBe(false);
    expect(cache.has(ctx, '28:5504x28')).toBe(false);
    cache.put(ctx, '28:5504x28', { accuracy: 0.43, size_gib: 8.1 });
    expect(new EvaluationCache(dir).entries(ctx).map((e) => e.key)).toEqual(['24:5504x24', '28:5504x28']);
    expect(cache.entries({ task: 'winogrande' })).toEqual([]);
    const files = readdirSync(dir, { recursive: true }).map(String);
    expect(files.some((f) => f.endsWith('.tmp'))).toBe(false);
    expect(files.filter((f) => f.endsWith('context.json'))).toHaveLength(1);
  });

  it('names the file of a damaged entry and rejects non-finite values', () => {
    const cache = new EvaluationCache(dir);
    cache.put(ctx, 'k', { a: 1 });
    const sub = readdirSync(dir)[0];
    const entry = readdirSync(join(dir, sub)).find((f) => f !== 'context.json')!;
    writeFileSync(join(dir, sub, entry), '{"version":1,');
    expect(() => cache.get(ctx, 'k')).toThrow(new RegExp(`${entry}: not a JSON cache entry`));
    expect(() => cache.put(ctx, 'k', { a: NaN })).toThrow(/value "a" is NaN/);
    expect(() => cache.put({ task: '' }, 'k', { a: 1 })).toThrow(/field task/);
  });

  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}',
    );
  });

  it('prevents any repeated evaluation across searches and warm-starts new ones', async () => {
    const store = new EvaluationCache(dir);
    const calls = new Map<string, number>();
    const counting = (cs: Candidate[]) => {
      for (const c of cs) calls.set(c.key, (calls.get(c.key) ?? 0) + 1);
      return evaluate(cs);
    };
    const first = await runSearch(nasOptions(21, { budget: 100 }), counting, {
      cache: { store, context: ctx },
    });
    expect(first.evaluated).toBe(100);
    // the same search again: every candidate is answered by the cache
    const again = await runSearch(nasOptions(21, { budget: 100 }), counting, {
      cache: { store, context: ctx },
    });
    expect(again.evaluated).toBe(0);
    expect(again.cacheHits).toBe(100);
    expect(again.state.evaluations).toEqual(first.state.evaluations);
    // another seed, warm-started from the cache: new sub-networks only
    const warm = await runSearch(nasOptions(22, { budget: 50 }), counting, {
      cache: { store, context: ctx, warmStart: true },
    });
    expect(warm.priors).toBe(100);
    expect(warm.evaluated).toBe(50);
    expect(warm.state.history[0].source).toBe('predictor');
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(calls.size).toBe(150);
    expect(store.entries(ctx)).toHaveLength(150);
  });
});
