import type { SequenceScorer } from '../model/types';
import type { PreparedTask } from './prepare';
import {
  batchRows,
  buildGroupRow,
  causalRow,
  DEFAULT_BATCH_LIMITS,
  DEFAULT_SHARED_LIMITS,
  planItemRows,
  planSharedRows,
  requestWindow,
  type BatchLimits,
  type PlannedRow,
  type SharedLimits,
} from './rows';

export type ScoringPath = 'shared' | 'fast' | 'naive';

export interface ScoreOptions {
  /**
   * 'shared' (default): questions whose contexts share a prefix are packed into one row (the
   * prefix once, each question and its choices as branches), the rest as 'fast'. 'fast': each
   * question's context once with its choices as branches, rows batched by length. 'naive': one
   * request per call.
   */
  path?: ScoringPath;
  batch?: Partial<BatchLimits>;
  /** Row planning of the shared path. */
  shared?: Partial<SharedLimits>;
  /** Called after each model call with scored requests so far and the total (for heartbeats and progress bars). */
  onProgress?: (done: number, total: number) => void;
  /** Stops between model calls. */
  signal?: AbortSignal;
}

export interface ScoringStats {
  path: ScoringPath;
  requests: number;
  rows: number;
  calls: number;
  /** Tokens fed to the model (sum of row lengths, padding not counted). */
  tokens: number;
  seconds: number;
}

/** Per item, per choice: the summed log-probability of the continuation. */
export interface TaskScores {
  loglikelihoods: number[][];
  stats: ScoringStats;
}

function accumulate(planned: PlannedRow, values: Float32Array, lls: number[][]): void {
  if (values.length !== planned.row.tokens.length) {
    throw new Error(
      `scorer returned ${values.length} values for a row of ${planned.row.tokens.length} tokens`,
    );
  }
  for (const span of planned.spans) {
    let sum = 0;
    for (let i = span.start; i < span.end; i++) {
      const v = values[i]!;
      if (Number.isNaN(v))
        throw new Error(
          `scorer returned NaN at a scored position (item ${span.item}, choice ${span.request})`,
        );
      sum += v;
    }
    lls[span.item]![span.request] = sum;
  }
}

/**
 * Scores every request of a prepared task with one sub-network. Both paths give the same
 * per-token inputs (the same visible tokens at the same positions) and sum in the same order.
 */
export async function scoreTask(
  prepared: PreparedTask,
  scorer: SequenceScorer,
  opts: ScoreOptions = {},
): Promise<TaskScores> {
  const path = opts.path ?? 'shared';
  const started = process.hrtime.bigint();
  const maxLength = scorer.maxLength;
  const lls = prepared.items.map((item) => new Array<number>(item.requests.length).fill(Number.NaN));
  const total = prepared.requestCount;
  let done = 0;
  let calls = 0;
  let rows = 0;
  let tokens = 0;
  const run = async (batch: PlannedRow[]) => {
    opts.signal?.throwIfAborted();
    const values = await scorer.scorePacked(batch.map((p) => p.row));
    if (values.length !== batch.length)
      throw new Error(`scorer returned ${values.length} rows for ${batch.length}`);
    batch.forEach((p, i) => accumulate(p, values[i]!, lls));
    calls++;
    rows += batch.length;
    for (const p of batch) {
      tokens += p.row.tokens.length;
      done += p.spans.length;
    }
    opts.onProgress?.(done, total);
  };
  if (path === 'naive') {
    for (const [i, item] of prepared.items.entries()) {
      for (const [c, req] of item.requests.entries())
        await run([causalRow(requestWindow(req, maxLength), i, c)]);
    }
  } else if (path === 'fast') {
    const limits = { ...DEFAULT_BATCH_LIMITS, ...opts.batch };
    // Plan lengths first and build each batch's rows when it is scored: all rows of a large
    // few-shot task at once would take hundreds of MB.
    const plan = prepared.items.flatMap((item, i) =>
      planItemRows(item.requests, i, maxLength, true).map((r, k) => ({
        item: i,
        k,
        length: r.row.tokens.length,
      })),
    );
    for (const batch of batchRows(plan, limits)) {
      const byItem = new Map<number, PlannedRow[]>();
      for (const { item } of batch) {
        if (!byItem.has(item))
          byItem.set(item, planItemRows(prepared.items[item]!.requests, item, maxLength, true));
      }
      await run(batch.map(({ item, k }) => byItem.get(item)![k]!));
    }
  } else {
    const limits = { ...DEFAULT_BATCH_LIMITS, ...opts.batch };
    const requests = prepared.items.map((item) => item.requests);
    const plan = planSharedRows(requests, maxLength, { ...DEFAULT_SHARED_LIMITS, ...opts.shared });
    for (const batch of batchRows(plan, limits)) {
      const byItem = new Map<number, PlannedRow[]>();
      const rowOf = (p: (typeof plan)[number]): PlannedRow => {
        if (p.kind === 'group') return buildGroupRow(requests, p.items, p.prefix, maxLength);
        if (!byItem.has(p.item)) byItem.set(p.item, planItemRows(requests[p.item]!, p.item, maxLength, true));
        return byItem.get(p.item)![p.k]!;
      };
      await run(batch.map(rowOf));
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { loglikelihoods: lls, stats: { path, requests: total, rows, calls, tokens, seconds } };
}
