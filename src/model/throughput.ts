import { performance } from 'node:perf_hooks';
import { seededRandom } from './random';
import type { PackedRow, SequenceScorer } from './types';

/**
 * The throughput protocol behind every speed figure: a fixed scoring workload (`batch` rows of
 * `seqLen` seeded random tokens, every position scored), `warmup` untimed runs, then `repeats`
 * timed runs; the figure is tokens per second at the median run time, reported with the spread
 * of the runs, the workload and the thread count of the session.
 */
export interface ThroughputOptions {
  /** Rows per run (default 8). */
  batch?: number;
  /** Tokens per row (default: 128, at most the scorer's maxLength). */
  seqLen?: number;
  /** Untimed runs first (default 2). */
  warmup?: number;
  /** Timed runs (default 5). */
  repeats?: number;
  /** Seed of the random tokens (default 0). */
  seed?: number;
  /** Token ids are drawn from 0..vocabSize-1 (default: the session's config.vocabSize). */
  vocabSize?: number;
  /** Intra-op threads, stated in the result (default: the session's own `threads`). */
  threads?: number;
  /** Milliseconds clock (default performance.now); tests pass a fake one. */
  clock?: () => number;
}

export interface ThroughputWorkload {
  kind: 'score';
  batch: number;
  seqLen: number;
  tokensPerRun: number;
  warmup: number;
  repeats: number;
  seed: number;
  threads: number | null;
}

export interface TimingSummary {
  median: number;
  min: number;
  max: number;
  /** First and third quartiles (linear interpolation between order statistics). */
  q1: number;
  q3: number;
}

export interface ThroughputResult {
  /** tokensPerRun / medianSeconds. */
  tokensPerSecond: number;
  medianSeconds: number;
  /** Run times in seconds. */
  spread: TimingSummary;
  /** tokens/s at the fastest and slowest run. */
  tokensPerSecondRange: { min: number; max: number };
  runs: number[];
  workload: ThroughputWorkload;
}

/** A session that can say its vocabulary and thread count (the model core's SubnetSession can). */
type Measurable = SequenceScorer & { config?: { vocabSize: number }; threads?: number };

function quantile(sorted: number[], p: number): number {
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** Median, extremes and quartiles of run times. */
export function summarizeTimings(seconds: number[]): TimingSummary {
  if (seconds.length === 0) throw new Error('summarizeTimings: no runs');
  const sorted = [...seconds].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    min: sorted[0]!,
    max: sorted.at(-1)!,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
  };
}

/** Runs `fn` warmup times untimed, then `repeats` times timed; returns the timed runs in seconds. */
export async function timeRuns(
  fn: () => Promise<unknown>,
  opts: { warmup: number; repeats: number; clock?: () => number },
): Promise<number[]> {
  const clock = opts.clock ?? (() => performance.now());
  for (let i = 0; i < opts.warmup; i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < opts.repeats; i++) {
    const t0 = clock();
    await fn();
    runs.push((clock() - t0) / 1000);
  }
  return runs;
}

/** The rows of the scoring workload: plain causal sequences, every next token scored. */
export function scoringWorkload(batch: number, seqLen: number, vocabSize: number, seed: number): PackedRow[] {
  const rand = seededRandom(seed);
  return Array.from({ length: batch }, () => {
    const tokens = Array.from({ length: seqLen }, () => Math.floor(rand() * vocabSize));
    return {
      tokens,
      positions: tokens.map((_, i) => i),
      segments: tokens.map(() => 0),
      targets: tokens.map((_, i) => (i + 1 < seqLen ? tokens[i + 1]! : -1)),
    };
  });
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`measureThroughput: ${name} ${value} must be an integer >= 1`);
  return value;
}

/**
 * Scoring throughput of a sub-network session by the protocol above. Several sessions that are
 * to be compared go through measureThroughputInterleaved instead.
 */
export async function measureThroughput(
  scorer: Measurable,
  opts: ThroughputOptions = {},
): Promise<ThroughputResult> {
  return (await measureThroughputInterleaved([scorer], opts))[0]!;
}

/**
 * The protocol for sessions compared with each other (float against quantized, say): same
 * workload, each warmed up, then the timed runs taken in turns (round r times one run of every
 * session), so that a change in the machine's load during the measurement hits all of them
 * alike rather than whichever happened to run then.
 */
export async function measureThroughputInterleaved(
  scorers: Measurable[],
  opts: ThroughputOptions = {},
): Promise<ThroughputResult[]> {
  if (scorers.length === 0) throw new Error('measureThroughput: no sessions');
  const maxLength = Math.min(...scorers.map((s) => s.maxLength));
  const batch = positiveInt(opts.batch ?? 8, 'batch');
  const seqLen = positiveInt(Math.min(opts.seqLen ?? 128, maxLength), 'seqLen');
  const warmup = opts.warmup ?? 2;
  const repeats = positiveInt(opts.repeats ?? 5, 'repeats');
  const seed = opts.seed ?? 0;
  const vocabSize = opts.vocabSize ?? Math.min(...scorers.map((s) => s.config?.vocabSize ?? NaN));
  if (!Number.isInteger(vocabSize))
    throw new Error('measureThroughput: give vocabSize for a scorer without a config');
  if (!Number.isInteger(warmup) || warmup < 0)
    throw new Error(`measureThroughput: warmup ${warmup} must be >= 0`);
  const rows = scoringWorkload(batch, seqLen, vocabSize, seed);
  for (const scorer of scorers) await timeRuns(() => scorer.scorePacked(rows), { warmup, repeats: 0 });
  const runs: number[][] = scorers.map(() => []);
  for (let r = 0; r < repeats; r++) {
    for (const [i, scorer] of scorers.entries()) {
      const [t] = await timeRuns(() => scorer.scorePacked(rows), {
        warmup: 0,
        repeats: 1,
        clock: opts.clock,
      });
      runs[i]!.push(t!);
    }
  }
  const tokensPerRun = batch * seqLen;
  return scorers.map((scorer, i) => {
    const spread = summarizeTimings(runs[i]!);
    return {
      tokensPerSecond: tokensPerRun / spread.median,
      medianSeconds: spread.median,
      spread,
      tokensPerSecondRange: { min: tokensPerRun / spread.max, max: tokensPerRun / spread.min },
      runs: runs[i]!,
      workload: {
        kind: 'score',
        batch,
        seqLen,
        tokensPerRun,
        warmup,
        repeats,
        seed,
        threads: opts.threads ?? scorer.threads ?? null,
      },
    };
  });
}

/** One line describing a result, e.g. for logs and benchmark output. */
export function describeThroughput(r: ThroughputResult): string {
  const w = r.workload;
  return (
    `${r.tokensPerSecond.toFixed(0)} tokens/s (median of ${w.repeats} runs ${(r.medianSeconds * 1000).toFixed(1)} ms, ` +
    `range ${(r.spread.min * 1000).toFixed(1)}-${(r.spread.max * 1000).toFixed(1)} ms; ` +
    `batch ${w.batch} x ${w.seqLen} tokens, ${w.warmup} warm-up, ${w.threads ?? '?'} threads)`
  );
}
