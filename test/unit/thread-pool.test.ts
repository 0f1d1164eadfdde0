import { join } from 'node:path';
import { ThreadPool } from '../../src/threads/pool';

const JOBS = join(__dirname, '../fixtures/threads/jobs.ts');

describe('the worker thread pool', () => {
  let pool: ThreadPool;
  beforeEach(() => {
    pool = new ThreadPool(2, 'test');
  });
  afterEach(() => pool.close());

  it('runs synchronous work off the event loop, its progress coming back as messages', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const progress: unknown[] = [];
    const job = pool.run<{ spins: number }>(
      { module: JOBS, fn: 'spinUntilReleased', args: [flag] },
      {
        onProgress: (p) => {
          progress.push(p);
          // the job ends only because this thread's event loop still runs while it spins
          if (progress.length === 2) Atomics.store(flag, 0, 1);
        },
      },
    );
    const result = await job;
    expect(result.spins).toBeGreaterThanOrEqual(2_000_000);
    // progress is thinned out in the thread (at most every 200 ms) but keeps its order
    const spins = progress.map((p) => (p as { spins: number }).spins);
    expect(spins).toEqual([...spins].sort((x, y) => x - y));
    expect(spins.at(-1)).toBeLessThanOrEqual(result.spins);
  }, 60_000);

  it('rebuilds a job error with its name, message and fields, and keeps the thread', async () => {
    await expect(
      pool.run({ module: JOBS, fn: 'failWithBadData', args: ['tasks/arc.jsonl'] }),
    ).rejects.toMatchObject({
      name: 'EvalDataError',
      message: 'tasks/arc.jsonl: line 3 is not JSON',
      line: 3,
    });
    await expect(pool.run({ module: JOBS, fn: 'nothing', args: [] })).rejects.toThrow(
      /exports no function nothing/,
    );
    expect(pool.threads).toBe(1);
  }, 60_000);

  it('keeps its threads (and their module state) between jobs, up to its size at once', async () => {
    const one = await pool.run<number>({ module: JOBS, fn: 'count', args: [] });
    const two = await pool.run<number>({ module: JOBS, fn: 'count', args: [] });
    expect([one, two]).toEqual([1, 2]);
    const flags = [0, 1, 2].map(() => new Int32Array(new SharedArrayBuffer(4)));
    const started: number[] = [];
    const jobs = flags.map((flag, i) =>
      pool.run(
        { module: JOBS, fn: 'spinUntilReleased', args: [flag] },
        { onProgress: () => started.push(i) },
      ),
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(pool.threads).toBe(2);
    expect(new Set(started)).not.toContain(2);
    for (const f of flags) Atomics.store(f, 0, 1);
    await Promise.all(jobs);
  }, 60_000);

  it('grows: a job waiting for a thread starts once the pool may run more', async () => {
    const small = new ThreadPool(1, 'grow');
    try {
      const flags = [0, 1].map(() => new Int32Array(new SharedArrayBuffer(4)));
      const started = new Set<number>();
      const jobs = flags.map((flag, i) =>
        small.run(
          { module: JOBS, fn: 'spinUntilReleased', args: [flag] },
          { onProgress: () => started.add(i) },
        ),
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect([...started]).not.toContain(1);
      small.grow(2);
      while (!started.has(1)) await new Promise((r) => setTimeout(r, 50));
      expect(small.threads).toBe(2);
      for (const f of flags) Atomics.store(f, 0, 1);
      await Promise.all(jobs);
    } finally {
      await small.close();
    }
  }, 60_000);

  it('stops a job stuck in synchronous work when its signal aborts, and starts a fresh thread after', async () => {
    const abort = new AbortController();
    const job = pool.run(
      { module: JOBS, fn: 'spinForever', args: [] },
      { signal: abort.signal, onProgress: () => abort.abort(new Error('cancelled by the workflow')) },
    );
    await expect(job).rejects.toThrow('cancelled by the workflow');
    expect(await pool.run<number>({ module: JOBS, fn: 'count', args: [] })).toBe(1);
  }, 60_000);
  it('runs the jobs of one affinity in one thread, one at a time, while other jobs use the others', async () => {
    const id = (affinity?: string) =>
      pool.run<number>({ module: JOBS, fn: 'threadId', args: [] }, { affinity });
    const pinned = await id('gpu');
    const flags = [0, 1].map(() => new Int32Array(new SharedArrayBuffer(4)));
    const started = new Set<number>();
    const spins = flags.map((flag, i) =>
      pool.run(
        { module: JOBS, fn: 'spinUntilReleased', args: [flag] },
        { affinity: 'gpu', onProgress: () => started.add(i) },
      ),
    );
    // the second waits for the first although the pool could start another thread...
    const other = await id();
    expect(other).not.toBe(pinned);
    await new Promise((r) => setTimeout(r, 1500));
    expect([...started]).toEqual([0]);
    Atomics.store(flags[0]!, 0, 1);
    while (!started.has(1)) await new Promise((r) => setTimeout(r, 50));
    Atomics.store(flags[1]!, 0, 1);
    await Promise.all(spins);
    // ...and runs in the same thread, as every later job of that affinity does
    expect(await id('gpu')).toBe(pinned);
    expect(pool.threads).toBe(2);
  }, 60_000);
});
