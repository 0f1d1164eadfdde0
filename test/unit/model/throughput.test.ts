import {
  measureThroughput,
  measureThroughputInterleaved,
  scoringWorkload,
  summarizeTimings,
  timeRuns,
} from '../../../src/model/throughput';
import type { PackedRow, SequenceScorer } from '../../../src/model/types';

/** A clock that advances by the given durations (ms), one per timed run, whatever the wall time. */
function fakeClock(durationsMs: number[]): { clock: () => number; calls: () => number } {
  let now = 0;
  let reads = 0;
  const queue = [...durationsMs];
  return {
    clock: () => {
      reads++;
      // readings alternate start, end: the end reading advances by the next duration
      if (reads % 2 === 0) now += queue.shift() ?? 0;
      return now;
    },
    calls: () => reads,
  };
}

describe('throughput statistics', () => {
  it('median, extremes and interpolated quartiles', () => {
    expect(summarizeTimings([5, 1, 3, 2, 4])).toEqual({ median: 3, min: 1, max: 5, q1: 2, q3: 4 });
    expect(summarizeTimings([4, 1, 2, 3])).toEqual({ median: 2.5, min: 1, max: 4, q1: 1.75, q3: 3.25 });
    expect(summarizeTimings([7])).toEqual({ median: 7, min: 7, max: 7, q1: 7, q3: 7 });
    expect(() => summarizeTimings([])).toThrow(/no runs/);
  });

  it('warm-up runs are run but not timed', async () => {
    let calls = 0;
    const fake = fakeClock([10, 30, 20]);
    const runs = await timeRuns(
      async () => {
        calls++;
      },
      { warmup: 2, repeats: 3, clock: fake.clock },
    );
    expect(calls).toBe(5);
    expect(fake.calls()).toBe(6);
    expect(runs).toEqual([0.01, 0.03, 0.02]);
  });
});

describe('measureThroughput', () => {
  const scorer = (
    seen: PackedRow[][],
  ): SequenceScorer & { config: { vocabSize: number }; threads: number } => ({
    maxLength: 64,
    config: { vocabSize: 50 },
    threads: 3,
    scorePacked: async (rows) => {
      seen.push(rows);
      return rows.map((r) => new Float32Array(r.tokens.length));
    },
    close: async () => {},
  });

  it('tokens per second at the median run, the spread and the stated workload', async () => {
    const seen: PackedRow[][] = [];
    const r = await measureThroughput(scorer(seen), {
      batch: 4,
      seqLen: 100, // capped at the scorer's maxLength
      warmup: 1,
      repeats: 5,
      seed: 7,
      clock: fakeClock([400, 100, 200, 800, 300]).clock,
    });
    expect(seen).toHaveLength(6);
    expect(r.workload).toEqual({
      kind: 'score',
      batch: 4,
      seqLen: 64,
      tokensPerRun: 256,
      warmup: 1,
      repeats: 5,
      seed: 7,
      threads: 3,
    });
    expect(r.medianSeconds).toBeCloseTo(0.3);
    expect(r.tokensPerSecond).toBeCloseTo(256 / 0.3);
    expect(r.spread.min).toBeCloseTo(0.1);
    expect(r.spread.max).toBeCloseTo(0.8);
    expect(r.spread.q1).toBeCloseTo(0.2);
    expect(r.spread.q3).toBeCloseTo(0.4);
    expect(r.tokensPerSecondRange.min).toBeCloseTo(256 / 0.8);
    expect(r.tokensPerSecondRange.max).toBeCloseTo(256 / 0.1);
    // every run scores the same rows: 4 causal rows of 64 tokens, every next token a target
    const rows = seen[0]!;
    expect(seen.every((s) => s === rows)).toBe(true);
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row.tokens).toHaveLength(64);
      expect(row.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < 50)).toBe(true);
      expect(row.targets.slice(0, -1)).toEqual(row.tokens.slice(1));
      expect(row.targets.at(-1)).toBe(-1);
    }
  });

  it('the workload is seeded', () => {
    expect(scoringWorkload(2, 16, 1000, 1)).toEqual(scoringWorkload(2, 16, 1000, 1));
    expect(scoringWorkload(2, 16, 1000, 1)).not.toEqual(scoringWorkload(2, 16, 1000, 2));
  });

  it('rejects a workload it cannot state', async () => {
    const noVocab = { maxLength: 8, scorePacked: async () => [], close: async () => {} };
    await expect(measureThroughput(noVocab)).rejects.toThrow(/vocabSize/);
    await expect(measureThroughput(scorer([]), { repeats: 0 })).rejects.toThrow(/repeats 0/);
  });
});

describe('measureThroughputInterleaved', () => {
  it('takes the timed runs in turns, so each session gets every other reading', async () => {
    const order: string[] = [];
    const session = (name: string): SequenceScorer & { config: { vocabSize: number } } => ({
      maxLength: 32,
      config: { vocabSize: 10 },
      scorePacked: async (rows) => {
        order.push(name);
        return rows.map((r) => new Float32Array(r.tokens.length));
      },
      close: async () => {},
    });
    // a: 100, 300, 500 ms; b: 200, 400, 600 ms
    const [a, b] = await measureThroughputInterleaved([session('a'), session('b')], {
      batch: 2,
      seqLen: 16,
      warmup: 1,
      repeats: 3,
      clock: fakeClock([100, 200, 300, 400, 500, 600]).clock,
    });
    expect(order).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    expect(a!.runs).toEqual([0.1, 0.3, 0.5]);
    expect(b!.runs).toEqual([0.2, 0.4, 0.6]);
    expect(a!.tokensPerSecond).toBeCloseTo(32 / 0.3);
    expect(b!.workload.threads).toBeNull();
  });
});
