import type { PackedRow } from '../model/types';
import type { TokenizedRequest } from './prepare';

/**
 * The model input of one request as the harness builds it: (context + continuation) cut to its
 * last maxLength + 1 tokens (left truncation), without the last token; the last
 * len(continuation) positions predict the continuation.
 */
export interface RequestWindow {
  input: number[];
  /** targets[j]: the token position j predicts, or -1 (context positions). */
  targets: number[];
  /** First position with a target. */
  firstTarget: number;
}

export function requestWindow(req: TokenizedRequest, maxLength: number): RequestWindow {
  const contLength = req.continuation.length;
  if (contLength > maxLength) {
    throw new Error(
      `a continuation of ${contLength} tokens does not fit the model's maximum length ${maxLength}`,
    );
  }
  const whole = req.context.concat(req.continuation);
  const window = whole.length > maxLength + 1 ? whole.slice(whole.length - (maxLength + 1)) : whole;
  const input = window.slice(0, -1);
  const firstTarget = input.length - contLength;
  const targets = input.map((_, j) => (j >= firstTarget ? window[j + 1]! : -1));
  return { input, targets, firstTarget };
}

/** Which positions of a row hold the targets of one request. */
export interface RequestSpan {
  item: number;
  request: number;
  start: number;
  end: number;
}

export interface PlannedRow {
  row: PackedRow;
  spans: RequestSpan[];
}

/** One causal row: every token in segment 0, positions from 0. */
export function causalRow(window: RequestWindow, item: number, request: number): PlannedRow {
  const n = window.input.length;
  return {
    row: {
      tokens: window.input,
      positions: Array.from({ length: n }, (_, i) => i),
      segments: new Array<number>(n).fill(0),
      targets: window.targets,
    },
    spans: [{ item, request, start: window.firstTarget, end: n }],
  };
}

function commonPrefixLength(inputs: number[][]): number {
  const first = inputs[0]!;
  let p = first.length;
  for (const other of inputs.slice(1)) {
    let i = 0;
    while (i < p && i < other.length && other[i] === first[i]) i++;
    p = i;
  }
  return p;
}

/**
 * The rows for one question. The fast path packs the tokens all its requests share (and that
 * predict nothing) once as segment 0 and each request's remaining tokens as its own segment,
 * continuing the positions; every scored position sees exactly what it sees in its own causal
 * row. If that row would exceed maxLength (or truncation was needed), each request gets its own
 * causal row, which is what the naive path always does.
 */
export function planItemRows(
  requests: TokenizedRequest[],
  item: number,
  maxLength: number,
  packed: boolean,
): PlannedRow[] {
  const windows = requests.map((r) => requestWindow(r, maxLength));
  if (!packed || windows.length === 1) return windows.map((w, c) => causalRow(w, item, c));
  const shared = Math.min(
    commonPrefixLength(windows.map((w) => w.input)),
    ...windows.map((w) => w.firstTarget),
  );
  const total = shared + windows.reduce((n, w) => n + w.input.length - shared, 0);
  if (total > maxLength) return windows.map((w, c) => causalRow(w, item, c));
  const row: PackedRow = { tokens: [], positions: [], segments: [], targets: [] };
  const first = windows[0]!;
  for (let i = 0; i < shared; i++) {
    row.tokens.push(first.input[i]!);
    row.positions.push(i);
    row.segments.push(0);
    row.targets.push(-1);
  }
  const spans: RequestSpan[] = [];
  windows.forEach((w, c) => {
    const offset = row.tokens.length - shared;
    for (let j = shared; j < w.input.length; j++) {
      row.tokens.push(w.input[j]!);
      row.positions.push(j);
      row.segments.push(c + 1);
      row.targets.push(w.targets[j]!);
    }
    spans.push({ item, request: c, start: offset + w.firstTarget, end: offset + w.input.length });
  });
  return [{ row, spans }];
}

export interface BatchLimits {
  /** Most rows in one scorer call (default 64). */
  maxRows: number;
  /**
   * Most padded tokens (rows x longest row) in one scorer call (default 4096, the ONNX runtime's
   * own batch budget): larger calls are no faster there and make progress and cancellation coarser.
   */
  maxTokens: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxRows: 64, maxTokens: 4096 };

/** Rows sorted longest first (stable) and cut into batches of similar length within the limits. */
export function batchRows<T extends { length: number }>(rows: T[], limits: BatchLimits): T[][] {
  const sorted = rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => b.r.length - a.r.length || a.i - b.i)
    .map((x) => x.r);
  const batches: T[][] = [];
  let current: T[] = [];
  let width = 0;
  for (const r of sorted) {
    if (
      current.length > 0 &&
      (current.length + 1 > limits.maxRows ||
        (current.length + 1) * Math.max(width, r.length) > limits.maxTokens)
    ) {
      batches.push(current);
      current = [];
    }
    width = current.length === 0 ? r.length : Math.max(width, r.length);
    current.push(r);
  }
  if (current.length) batches.push(current);
  return batches;
}
