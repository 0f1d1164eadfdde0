import { join } from 'node:path';
import { evaluatePrepared } from '../../../src/eval';
import { prepareTask, type EvalSettings } from '../../../src/eval/prepare';
import { planItemRows } from '../../../src/eval/rows';
import { scoreTask } from '../../../src/eval/score';
import { loadTask } from '../../../src/eval/tasks';
import type { TaskName } from '../../../src/eval/types';
import { PieceTokenizer } from './helpers/piece-tokenizer';
import { ReferenceScorer } from './helpers/reference-scorer';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');
const tok = new PieceTokenizer();

const CASES: [TaskName, string, EvalSettings][] = [
  ['arc_easy', 'arc', {}],
  ['arc_easy', 'arc-hf', { shots: 2 }],
  ['arc_challenge', 'arc', { shots: 1, bos: true }],
  ['mmlu', 'mmlu', { shots: 2 }],
  ['mmlu', 'mmlu-hf', {}],
  ['truthfulqa_mc1', 'truthfulqa', {}],
  ['winogrande', 'winogrande', {}],
  ['winogrande', 'winogrande-hf', { shots: 2, bos: true }],
];

describe('fast path = naive path, item by item', () => {
  it.each(CASES)('%s from %s %j', async (name, dir, settings) => {
    const task = loadTask(name, join(FIX, dir), { fewshot: (settings.shots ?? 0) > 0 });
    const prepared = prepareTask(task, tok, settings);
    for (const maxLength of [1024, 48]) {
      const fastScorer = new ReferenceScorer(maxLength, tok.vocabSize);
      const naiveScorer = new ReferenceScorer(maxLength, tok.vocabSize);
      const fast = await scoreTask(prepared, fastScorer, { path: 'fast' });
      const naive = await scoreTask(prepared, naiveScorer, { path: 'naive' });
      expect(fast.loglikelihoods).toEqual(naive.loglikelihoods);
      for (const lls of fast.loglikelihoods)
        for (const ll of lls) expect(Number.isFinite(ll) && ll < 0).toBe(true);
      // the naive path makes one call per request; the fast path batches and shares contexts
      expect(naive.stats.calls).toBe(prepared.requestCount);
      expect(fast.stats.calls).toBeLessThan(naive.stats.calls);
      if (maxLength === 1024) expect(fast.stats.tokens).toBeLessThan(naive.stats.tokens);
    }
  });

  it('WinoGrande partial scoring: only the shared continuation is scored, after each option-filled context', async () => {
    const task = loadTask('winogrande', join(FIX, 'winogrande'));
    const prepared = prepareTask(task, tok, {});
    const result = await evaluatePrepared(prepared, new ReferenceScorer(1024, tok.vocabSize));
    const scorer = new ReferenceScorer(1024, tok.vocabSize);
    for (const [c, context] of [
      'Sarah lent her umbrella to Maria because Sarah',
      'Sarah lent her umbrella to Maria because Maria',
    ].entries()) {
      const ctx = tok.encode(context);
      const whole = tok.encode(`${context} was going out in the rain.`);
      const cont = whole.slice(ctx.length);
      expect(tok.decode(cont)).toBe(' was going out in the rain.');
      const tokens = whole.slice(0, -1);
      const row = {
        tokens,
        positions: tokens.map((_, i) => i),
        segments: tokens.map(() => 0),
        targets: tokens.map((_, i) => (i >= ctx.length - 1 ? whole[i + 1]! : -1)),
      };
      const [values] = await scorer.scorePacked([row]);
      let expected = 0;
      for (let i = ctx.length - 1; i < tokens.length; i++) expected += values![i]!;
      expect(result.items[0]!.loglikelihoods[c]).toBe(expected);
    }
    expect(result.items[0]!.gold).toBe(1);
    expect(result.items[0]!.acc).toBe(result.items[0]!.pred === 1 ? 1 : 0);
  });

  it('packs a question into one row: shared context once (segment 0), one segment per choice', () => {
    const task = loadTask('arc_easy', join(FIX, 'arc'));
    const prepared = prepareTask(task, tok, {});
    const item = prepared.items[0]!;
    const [planned, ...rest] = planItemRows(item.requests, 0, 1024, true);
    expect(rest).toHaveLength(0);
    const row = planned!.row;
    const contextLength = item.requests[0]!.context.length;
    // the shared part is the context minus its last token, which predicts each choice's first token
    expect(row.segments.filter((s) => s === 0)).toHaveLength(contextLength - 1);
    expect(new Set(row.segments)).toEqual(new Set([0, 1, 2, 3, 4]));
    const branch = row.segments.map((s, i) => (s === 2 ? i : -1)).filter((i) => i >= 0);
    expect(branch.map((i) => row.positions[i])).toEqual(
      Array.from({ length: item.requests[1]!.continuation.length }, (_, k) => contextLength - 1 + k),
    );
    expect(planned!.spans.map((s) => s.end - s.start)).toEqual(
      item.requests.map((r) => r.continuation.length),
    );
  });

  it('falls back to one row per choice when the packed row would exceed the maximum length', () => {
    const task = loadTask('arc_easy', join(FIX, 'arc'));
    const item = prepareTask(task, tok, {}).items[3]!;
    const single = Math.max(...item.requests.map((r) => r.context.length + r.continuation.length - 1));
    const packed = planItemRows(item.requests, 0, 1024, true)[0]!.row.tokens.length;
    expect(packed).toBeGreaterThan(single);
    expect(planItemRows(item.requests, 0, packed, true)).toHaveLength(1);
    const split = planItemRows(item.requests, 0, packed - 1, true);
    expect(split).toHaveLength(5);
    expect(split.every((p) => p.row.segments.every((s) => s === 0))).toBe(true);
  });

  it('reports progress in scored requests and stops when aborted', async () => {
    const task = loadTask('winogrande', join(FIX, 'winogrande'));
    const prepared = prepareTask(task, tok, {});
    const seen: [number, number][] = [];
    await scoreTask(prepared, new ReferenceScorer(256, tok.vocabSize), {
      path: 'naive',
      onProgress: (d, t) => seen.push([d, t]),
    });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6].map((d) => [d, 6]));
    const controller = new AbortController();
    controller.abort();
    await expect(
      scoreTask(prepared, new ReferenceScorer(256, tok.vocabSize), { signal: controller.signal }),
    ).rejects.toThrow();
  });

  it('scores the same prepared task with many scorers (prepare once)', async () => {
    const task = loadTask('mmlu', join(FIX, 'mmlu'), { fewshot: true });
    const prepared = prepareTask(task, tok, { shots: 1 });
    const a = await evaluatePrepared(prepared, new ReferenceScorer(1024, tok.vocabSize));
    const b = await evaluatePrepared(prepared, new ReferenceScorer(1024, tok.vocabSize), {
      batch: { maxRows: 1 },
    });
    expect(b.items.map((i) => i.loglikelihoods)).toEqual(a.items.map((i) => i.loglikelihoods));
    // one row per call; the shared path (the default) puts the two questions of a subject in one row
    expect(b.stats.calls).toBe(b.stats.rows);
    expect(b.stats.rows).toBe(2);
    const fast = await evaluatePrepared(prepared, new ReferenceScorer(1024, tok.vocabSize), {
      path: 'fast',
      batch: { maxRows: 1 },
    });
    expect(fast.items.map((i) => i.loglikelihoods)).toEqual(a.items.map((i) => i.loglikelihoods));
    expect(fast.stats.calls).toBe(3);
  });
});
