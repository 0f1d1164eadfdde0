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

/**
 * How the shared path packs questions: several questions whose contexts start with the same
 * tokens (MMLU's subject description and five dev examples, any few-shot preamble) go into one
 * row as a root segment holding the common prefix once, a child segment per question with the
 * rest of its context, and a grandchild per choice.
 */
export interface SharedLimits {
  /**
   * Longest row the planner builds (tokens; at most the model's maximum length). Longer rows
   * share a prefix among more questions but pay attention's quadratic cost (the ONNX runtime
   * computes a dense [L, L] score matrix per head); 1536 took the least CPU time in `npm run
   * bench prefix` (512, 1024, 1536 and 2048 measured side by side; src/eval/README.md has the
   * figures).
   */
  rowTokens: number;
  /**
   * A question joins a row only if that saves at least this many tokens (its shared prefix,
   * less what the others lose if the common prefix gets shorter).
   */
  minSharedTokens: number;
}

export const DEFAULT_SHARED_LIMITS: SharedLimits = { rowTokens: 1536, minSharedTokens: 16 };

/**
 * A question that the shared path can place under a common prefix: its requests were not
 * truncated and its own packed row fits. `context` holds `shared` tokens (the part of the
 * context all its requests share and that predicts nothing); each request's remaining input is
 * a branch. `length` is its packed row's length.
 */
interface ShareableItem {
  item: number;
  context: number[];
  shared: number;
  length: number;
}

/** A planned row of the shared path: the items it packs, or one item's fast-path rows. */
export type SharedRowPlan =
  | { kind: 'group'; items: number[]; prefix: number; length: number }
  | { kind: 'item'; item: number; k: number; length: number };

function shareable(requests: TokenizedRequest[], item: number, maxLength: number): ShareableItem | undefined {
  const windows = requests.map((r) => requestWindow(r, maxLength));
  const truncated = windows.some(
    (w, c) => w.input.length !== requests[c]!.context.length + requests[c]!.continuation.length - 1,
  );
  if (truncated) return undefined;
  const shared = Math.min(
    commonPrefixLength(windows.map((w) => w.input)),
    ...windows.map((w) => w.firstTarget),
  );
  const length = shared + windows.reduce((n, w) => n + w.input.length - shared, 0);
  if (length > maxLength) return undefined;
  // not truncated: every window starts with the whole context, so its first `shared` tokens are the first request's
  return { item, context: requests[0]!.context, shared, length };
}

function lcp(a: ShareableItem, b: ShareableItem): number {
  const n = Math.min(a.shared, b.shared);
  let i = 0;
  while (i < n && a.context[i] === b.context[i]) i++;
  return i;
}

function compareContexts(a: ShareableItem, b: ShareableItem): number {
  const p = lcp(a, b);
  if (p < a.shared && p < b.shared) return a.context[p]! - b.context[p]!;
  return a.shared - b.shared || a.item - b.item;
}

/**
 * Plans the rows of the shared path. Questions are sorted by their contexts (token by token), so
 * questions with a common prefix are neighbours; a run of neighbours becomes one row while the
 * row stays within `rowTokens` (and the model's maximum length) and each addition saves at least
 * `minSharedTokens` tokens. A row of L tokens holding k questions under a prefix P has
 * L = sum of the k packed lengths - (k - 1) P. Questions that cannot share (truncated requests,
 * or a packed row over the maximum length) keep the fast path's rows.
 */
export function planSharedRows(
  items: TokenizedRequest[][],
  maxLength: number,
  limits: SharedLimits = DEFAULT_SHARED_LIMITS,
): SharedRowPlan[] {
  for (const [name, value, min] of [
    ['rowTokens', limits.rowTokens, 1],
    ['minSharedTokens', limits.minSharedTokens, 0],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < min)
      throw new RangeError(`shared.${name} must be an integer >= ${min}, got ${value}`);
  }
  const budget = Math.min(limits.rowTokens, maxLength);
  const minSaving = Math.max(1, limits.minSharedTokens);
  const plans: SharedRowPlan[] = [];
  const candidates: ShareableItem[] = [];
  items.forEach((requests, i) => {
    const s = shareable(requests, i, maxLength);
    if (s) candidates.push(s);
    else
      planItemRows(requests, i, maxLength, true).forEach((r, k) =>
        plans.push({ kind: 'item', item: i, k, length: r.row.tokens.length }),
      );
  });
  candidates.sort(compareContexts);
  let group: ShareableItem[] = [];
  let prefix = 0;
  let sum = 0;
  const close = () => {
    if (group.length === 0) return;
    const length = sum - (group.length - 1) * prefix;
    plans.push({ kind: 'group', items: group.map((g) => g.item), prefix, length });
  };
  for (const c of candidates) {
    if (group.length > 0) {
      const k = group.length;
      const p = Math.min(prefix, lcp(group[k - 1]!, c));
      const saving = p - (k - 1) * (prefix - p);
      const length = sum + c.length - k * p;
      if (saving >= minSaving && length <= budget) {
        group.push(c);
        prefix = p;
        sum += c.length;
        continue;
      }
      close();
    }
    group = [c];
    prefix = c.shared;
    sum = c.length;
  }
  close();
  return plans;
}

/**
 * The row of a group: the common prefix once as segment 0, then per question a child segment
 * with the rest of its context (none if nothing is left) and a segment per request under it,
 * positions continuing from each segment's ancestors. Every scored position sees exactly its own
 * request's causal window.
 */
export function buildGroupRow(
  items: TokenizedRequest[][],
  group: number[],
  prefix: number,
  maxLength: number,
): PlannedRow {
  if (group.length === 1) {
    const rows = planItemRows(items[group[0]!]!, group[0]!, maxLength, true);
    if (rows.length !== 1) throw new Error(`internal error: item ${group[0]} does not pack into one row`);
    return rows[0]!;
  }
  const row: PackedRow = { tokens: [], positions: [], segments: [], targets: [], parents: [-1] };
  const parents = row.parents!;
  const push = (token: number, position: number, segment: number, target: number) => {
    row.tokens.push(token);
    row.positions.push(position);
    row.segments.push(segment);
    row.targets.push(target);
  };
  const first = items[group[0]!]![0]!.context;
  for (let i = 0; i < prefix; i++) push(first[i]!, i, 0, -1);
  const spans: RequestSpan[] = [];
  for (const item of group) {
    const windows = items[item]!.map((r) => requestWindow(r, maxLength));
    const shared = Math.min(
      commonPrefixLength(windows.map((w) => w.input)),
      ...windows.map((w) => w.firstTarget),
    );
    let parent = 0;
    if (shared > prefix) {
      parent = parents.length;
      parents.push(0);
      for (let i = prefix; i < shared; i++) push(windows[0]!.input[i]!, i, parent, -1);
    }
    windows.forEach((w, c) => {
      const segment = parents.length;
      parents.push(parent);
      const offset = row.tokens.length - shared;
      for (let j = shared; j < w.input.length; j++) push(w.input[j]!, j, segment, w.targets[j]!);
      spans.push({ item, request: c, start: offset + w.firstTarget, end: offset + w.input.length });
    });
  }
  if (row.tokens.length > maxLength)
    throw new Error(`internal error: a shared row of ${row.tokens.length} tokens exceeds ${maxLength}`);
  return { row, spans };
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
