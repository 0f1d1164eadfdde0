import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareTask, type EvalSettings, type PreparedTask } from '../../../src/eval/prepare';
import {
  buildGroupRow,
  planItemRows,
  planSharedRows,
  requestWindow,
  type PlannedRow,
  type SharedRowPlan,
} from '../../../src/eval/rows';
import { scoreTask } from '../../../src/eval/score';
import { loadTask } from '../../../src/eval/tasks';
import type { TaskName } from '../../../src/eval/types';
import type { PackedRow } from '../../../src/model/types';
import { writeArcData, writeMmluData } from '../../fixtures/eval/few-shot-data';
import { PieceTokenizer } from './helpers/piece-tokenizer';
import { ReferenceScorer } from './helpers/reference-scorer';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');
const tok = new PieceTokenizer();

/** The tokens (with positions) that position i of a row sees under the PackedRow contract. */
function visible(row: PackedRow, i: number): { tokens: number[]; positions: number[] } {
  const ancestors = new Set<number>();
  for (let s = row.segments[i]!; s >= 0; s = row.parents ? row.parents[s]! : s === 0 ? -1 : 0)
    ancestors.add(s);
  const tokens: number[] = [];
  const positions: number[] = [];
  for (let j = 0; j <= i; j++) {
    if (!ancestors.has(row.segments[j]!)) continue;
    tokens.push(row.tokens[j]!);
    positions.push(row.positions[j]!);
  }
  return { tokens, positions };
}

/** Every scored position of every planned row sees exactly its request's causal window. */
function expectCausalWindows(prepared: PreparedTask, rows: PlannedRow[], maxLength: number): void {
  const covered = prepared.items.map((item) => item.requests.map(() => 0));
  for (const { row, spans } of rows) {
    expect(row.tokens.length).toBeLessThanOrEqual(maxLength);
    const owned = new Array<boolean>(row.tokens.length).fill(false);
    for (const span of spans) {
      covered[span.item]![span.request]!++;
      const w = requestWindow(prepared.items[span.item]!.requests[span.request]!, maxLength);
      expect(span.end - span.start).toBe(w.input.length - w.firstTarget);
      for (let i = span.start; i < span.end; i++) {
        owned[i] = true;
        const seen = visible(row, i);
        const p = row.positions[i]!;
        expect(p).toBe(w.firstTarget + (i - span.start));
        expect(seen.positions).toEqual(Array.from({ length: p + 1 }, (_, k) => k));
        expect(seen.tokens).toEqual(w.input.slice(0, p + 1));
        expect(row.targets[i]).toBe(w.targets[p]);
      }
    }
    // nothing else in the row is scored
    row.targets.forEach((t, i) => expect(t >= 0).toBe(owned[i]));
  }
  // each request scored exactly once
  for (const c of covered) for (const n of c) expect(n).toBe(1);
}

function rowsOf(prepared: PreparedTask, plans: SharedRowPlan[], maxLength: number): PlannedRow[] {
  const requests = prepared.items.map((i) => i.requests);
  return plans.map((p) =>
    p.kind === 'group'
      ? buildGroupRow(requests, p.items, p.prefix, maxLength)
      : planItemRows(requests[p.item]!, p.item, maxLength, true)[p.k]!,
  );
}

describe('shared-prefix path', () => {
  let dir: string;
  let mmluDir: string;
  let arcDir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'shared-'));
    mmluDir = writeMmluData(join(dir, 'mmlu'), ['astronomy', 'college_physics', 'virology'], 5, 6);
    arcDir = writeArcData(join(dir, 'arc'), 30, 4);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // generated data sets (written in beforeAll) or a checked-in fixture
  const data = (where: string) =>
    where === 'generated mmlu' ? mmluDir : where === 'generated arc' ? arcDir : join(FIX, where);
  const cases: [string, TaskName, string, EvalSettings][] = [
    ['MMLU 5-shot', 'mmlu', 'generated mmlu', { shots: 5 }],
    ['ARC 25-shot', 'arc_easy', 'generated arc', { shots: 25 }],
    ['WinoGrande 0-shot', 'winogrande', 'winogrande', {}],
    ['TruthfulQA 0-shot', 'truthfulqa_mc1', 'truthfulqa', {}],
    ['MMLU 2-shot', 'mmlu', 'mmlu', { shots: 2 }],
  ];

  it.each(cases)(
    '%s (%s, %s): shared = fast = naive, item by item; every position sees its window',
    async (_, name, where, settings) => {
      const task = loadTask(name, data(where), { fewshot: (settings.shots ?? 0) > 0 });
      const prepared = prepareTask(task, tok, settings);
      const longest = Math.max(
        ...prepared.items.flatMap((i) => i.requests.map((r) => r.context.length + r.continuation.length - 1)),
      );
      // roomy, tight (some questions alone, some truncated), and the row budget at the maximum length
      for (const [maxLength, rowTokens] of [
        [4096, 1024],
        [Math.max(48, Math.floor(longest * 0.9)), 4096],
        [longest + 40, longest + 40],
      ] as const) {
        const shared = await scoreTask(prepared, new ReferenceScorer(maxLength, tok.vocabSize), {
          path: 'shared',
          shared: { rowTokens },
        });
        const fast = await scoreTask(prepared, new ReferenceScorer(maxLength, tok.vocabSize), {
          path: 'fast',
        });
        const naive = await scoreTask(prepared, new ReferenceScorer(maxLength, tok.vocabSize), {
          path: 'naive',
        });
        expect(shared.loglikelihoods).toEqual(naive.loglikelihoods);
        expect(fast.loglikelihoods).toEqual(naive.loglikelihoods);
        expect(shared.stats.tokens).toBeLessThanOrEqual(fast.stats.tokens);
        const plans = planSharedRows(
          prepared.items.map((i) => i.requests),
          maxLength,
          { rowTokens, minSharedTokens: 16 },
        );
        // a question alone may be longer than rowTokens (never than maxLength); a group never is
        for (const p of plans) {
          expect(p.length).toBeLessThanOrEqual(maxLength);
          if (p.kind === 'group' && p.items.length > 1) expect(p.length).toBeLessThanOrEqual(rowTokens);
        }
        const rows = rowsOf(prepared, plans, maxLength);
        rows.forEach((r, i) => expect(r.row.tokens.length).toBe(plans[i]!.length));
        expectCausalWindows(prepared, rows, maxLength);
      }
    },
  );

  it('MMLU 5-shot: one row per subject holds its questions under the shared description and dev examples', () => {
    const task = loadTask('mmlu', mmluDir, { fewshot: true });
    const prepared = prepareTask(task, tok, { shots: 5 });
    const requests = prepared.items.map((i) => i.requests);
    const plans = planSharedRows(requests, 4096, { rowTokens: 4096, minSharedTokens: 16 });
    const groups = plans.filter((p) => p.kind === 'group');
    expect(plans).toHaveLength(3);
    expect(groups).toHaveLength(3);
    for (const g of groups) {
      if (g.kind !== 'group') continue;
      const subjects = new Set(g.items.map((i) => prepared.items[i]!.doc.subject));
      expect(subjects.size).toBe(1);
      expect(g.items).toHaveLength(6);
      const row = buildGroupRow(requests, g.items, g.prefix, 4096).row;
      // root, then per question a context segment and four choice segments under it
      expect(row.parents).toHaveLength(1 + 6 * 5);
      expect(row.parents!.filter((p) => p === 0)).toHaveLength(6);
      // the root is the description and the dev examples: most of each context
      const context = requests[g.items[0]!]![0]!.context.length;
      expect(g.prefix).toBeGreaterThan(0.6 * context);
    }
    const fastTokens = prepared.items.reduce(
      (n, item, i) => n + planItemRows(item.requests, i, 4096, true)[0]!.row.tokens.length,
      0,
    );
    const sharedTokens = plans.reduce((n, p) => n + p.length, 0);
    expect(sharedTokens * 3).toBeLessThan(fastTokens);
  });

  it('keeps a row within the budget: a smaller rowTokens makes more, shorter rows', () => {
    const task = loadTask('mmlu', mmluDir, { fewshot: true });
    const prepared = prepareTask(task, tok, { shots: 5 });
    const requests = prepared.items.map((i) => i.requests);
    const one = Math.max(
      ...planSharedRows(requests, 4096, { rowTokens: 1, minSharedTokens: 16 }).map((p) => p.length),
    );
    // two questions of a subject fit (their prefix is over 60% of each), six do not
    const budget = Math.floor(one * 1.4);
    const plans = planSharedRows(requests, 4096, { rowTokens: budget, minSharedTokens: 16 });
    expect(plans.length).toBeGreaterThan(3);
    for (const p of plans) expect(p.length).toBeLessThanOrEqual(budget);
    expect(plans.some((p) => p.kind === 'group' && p.items.length >= 2)).toBe(true);
    expectCausalWindows(prepared, rowsOf(prepared, plans, 4096), 4096);
  });

  it('fills a row up to exactly the maximum length, and not one token past it', () => {
    const base = Array.from({ length: 30 }, (_, i) => 40 + i);
    const items = [0, 1, 2].map((q) => [
      { context: [...base, 80 + q, 90 + q], continuation: [5] },
      { context: [...base, 80 + q, 90 + q], continuation: [6, 7] },
    ]);
    // each question packs to 30 + 1 (its own context) + 1 + 2 (branches) = 34 tokens
    const length = 30 + 3 * 4;
    const atMax = planSharedRows(items, length, { rowTokens: 4096, minSharedTokens: 16 });
    expect(atMax).toEqual([{ kind: 'group', items: [0, 1, 2], prefix: 30, length }]);
    const row = buildGroupRow(items, [0, 1, 2], 30, length);
    expect(row.row.tokens).toHaveLength(length);
    const over = planSharedRows(items, length - 1, { rowTokens: 4096, minSharedTokens: 16 });
    expect(over.map((p) => (p.kind === 'group' ? p.items : []))).toEqual([[0, 1], [2]]);
    for (const p of over) expect(p.length).toBeLessThanOrEqual(length - 1);
  });

  it('does not share where the saving is below minSharedTokens, nor across truncated requests', () => {
    // three questions, two with a common 20-token context start, one truncated by maxLength 40
    const base = Array.from({ length: 20 }, (_, i) => 10 + i);
    const items = [
      [
        { context: [...base, 1, 2], continuation: [5] },
        { context: [...base, 1, 2], continuation: [6] },
      ],
      [
        { context: [...base, 3], continuation: [5, 7] },
        { context: [...base, 3], continuation: [6] },
      ],
      [
        { context: [...base, ...base, 4], continuation: [5] },
        { context: [...base, ...base, 4], continuation: [6] },
      ],
    ];
    const grouped = planSharedRows(items, 40, { rowTokens: 40, minSharedTokens: 20 });
    const group = grouped.find((p) => p.kind === 'group' && p.items.length > 1);
    expect(group?.kind === 'group' && [...group.items].sort()).toEqual([0, 1]);
    expect(group).toMatchObject({ prefix: 20 });
    // the truncated question keeps one causal row per request
    expect(grouped.filter((p) => p.kind === 'item' && p.item === 2)).toHaveLength(2);
    const apart = planSharedRows(items, 40, { rowTokens: 40, minSharedTokens: 21 });
    expect(() => planSharedRows(items, 40, { rowTokens: 0, minSharedTokens: 16 })).toThrow(
      'shared.rowTokens must be an integer >= 1, got 0',
    );
    expect(apart.filter((p) => p.kind === 'group' && p.items.length > 1)).toHaveLength(0);
    const row = buildGroupRow(items, [0, 1], 20, 40);
    // question 0 shares 21 tokens (a child segment of one token), question 1 only the root's 20
    expect(row.row.parents).toEqual([-1, 0, 1, 1, 0, 0]);
    expect(row.row.segments.slice(20)).toEqual([1, 2, 3, 4, 4, 5]);
    expect(row.row.positions).toEqual([...base.map((_, i) => i), 20, 21, 21, 20, 21, 20]);
    expect(row.row.targets.slice(20)).toEqual([-1, 5, 6, 5, 7, 6]);
    expect(row.spans).toEqual([
      { item: 0, request: 0, start: 21, end: 22 },
      { item: 0, request: 1, start: 22, end: 23 },
      { item: 1, request: 0, start: 23, end: 25 },
      { item: 1, request: 1, start: 25, end: 26 },
    ]);
  });
});
