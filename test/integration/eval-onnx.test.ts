/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluatePrepared, loadTask, prepareTask, type EvalSettings, type TaskName } from '../../src/eval';
import { openSubnet, type SubnetSession } from '../../src/model/runtime';
import { loadTokenizer } from '../../src/model/tokenizer';
import type { TextTokenizer } from '../../src/model/types';
import { projectRoot } from '../../src/toolchain';
import { writeArcData, writeMmluData } from '../fixtures/eval/few-shot-data';
import { tinyCheckpointFolder } from '../helpers/tiny-model';

/**
 * The evaluator on the real ONNX runtime: a random tiny checkpoint with a LLaMA-style tokenizer,
 * the fixture data of every task, the fast path against the naive path item by item, and the
 * CLI end to end. The maximum length (256) is below TruthfulQA's primer in this tokenizer, so
 * left truncation and the per-choice fallback run too.
 */
const FIX = join(projectRoot, 'test', 'fixtures', 'eval');
// Packing changes the shapes ONNX Runtime sees, hence the order of float additions: scores agree
// to rounding, not bit for bit.
const TOLERANCE = 1e-3;

describe('evaluation on the ONNX runtime', () => {
  const tiny = tinyCheckpointFolder(
    'eval-onnx-',
    { vocabSize: 300, maxPositionEmbeddings: 256, numLayers: 3 },
    5,
  );
  let tokenizer: TextTokenizer;
  let full: SubnetSession;
  let sub: SubnetSession;

  beforeAll(async () => {
    tokenizer = await loadTokenizer(tiny.model);
    const cacheDir = join(tiny.dir, 'cache');
    full = await openSubnet(tiny.model, { layers: 3, intermediate: [48, 48, 48] }, { cacheDir, threads: 1 });
    sub = await openSubnet(tiny.model, { layers: 2, intermediate: [16, 48] }, { cacheDir, threads: 1 });
  });
  afterAll(async () => {
    await full?.close();
    await sub?.close();
  });

  const cases: [TaskName, string, EvalSettings][] = [
    ['arc_easy', 'arc', { shots: 2 }],
    ['arc_challenge', 'arc', { bos: true }],
    ['arc_easy', 'arc-hf', { limit: 3 }],
    ['mmlu', 'mmlu', { shots: 2 }],
    ['truthfulqa_mc1', 'truthfulqa', {}],
    ['winogrande', 'winogrande', { shots: 1, bos: true }],
  ];

  it.each(cases)(
    '%s from %s %j: fast path agrees with the naive path on every item',
    async (name, data, settings) => {
      const task = loadTask(name, join(FIX, data), { fewshot: (settings.shots ?? 0) > 0 });
      const prepared = prepareTask(task, tokenizer, settings);
      for (const scorer of [full, sub]) {
        const fast = await evaluatePrepared(prepared, scorer, { path: 'fast' });
        const naive = await evaluatePrepared(prepared, scorer, { path: 'naive' });
        expect(fast.items.map((i) => i.id)).toEqual(naive.items.map((i) => i.id));
        fast.items.forEach((item, i) => {
          const ref = naive.items[i]!;
          item.loglikelihoods.forEach((ll, c) => {
            expect(Number.isFinite(ll)).toBe(true);
            expect(Math.abs(ll - ref.loglikelihoods[c]!)).toBeLessThan(TOLERANCE);
          });
          const sorted = [...ref.loglikelihoods].sort((a, b) => b - a);
          if (sorted[0]! - sorted[1]! > 2 * TOLERANCE) expect(item.pred).toBe(ref.pred);
        });
        expect(fast.stats.calls).toBeLessThan(naive.stats.calls);
      }
    },
  );

  it('the CLI prints harness-shaped JSON and writes per-item scores', () => {
    const perItem = join(tiny.dir, 'items.jsonl');
    const stdout = execFileSync(
      process.execPath,
      [
        join(projectRoot, 'bin', 'llama-nas.js'),
        'eval',
        '--model',
        tiny.model,
        '--task',
        'arc_easy',
        '--data',
        join(FIX, 'arc'),
        '--subnet',
        '{"layers":2,"intermediate":[16,48]}',
        '--shots',
        '1',
        '--json',
        '--per-item',
        perItem,
        '--threads',
        '1',
      ],
      { encoding: 'utf8', env: { ...process.env, LLAMA_NAS_HOME: join(tiny.dir, 'home') } },
    );
    const report = JSON.parse(stdout);
    const r = report.results.arc_easy;
    for (const key of ['acc', 'acc_stderr', 'acc_norm', 'acc_norm_stderr']) {
      expect(typeof r[key]).toBe('number');
    }
    expect(report.n_samples.arc_easy).toBe(4);
    expect(report.n_shot.arc_easy).toBe(1);
    expect(report.settings).toMatchObject({ bos: false, max_length: 256, fewshot_seed: 1234 });
    expect(report.subnet).toMatchObject({ layers: 2, intermediate: [16, 48] });
    const lines = readFileSync(perItem, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(4);
    expect(lines.reduce((n: number, l: { acc: number }) => n + l.acc, 0) / 4).toBeCloseTo(r.acc, 12);
  });

  it('the CLI stops on a bad data file before loading the model, naming file and line', () => {
    let stderr = '';
    let status = 0;
    try {
      execFileSync(
        process.execPath,
        [
          join(projectRoot, 'bin', 'llama-nas.js'),
          'eval',
          '--model',
          join(tiny.dir, 'none'),
          '--task',
          'arc_easy',
          '--data',
          join(FIX, 'bad', 'arc'),
        ],
        {
          encoding: 'utf8',
          stdio: 'pipe',
        },
      );
    } catch (err) {
      const e = err as { status: number; stderr: string };
      status = e.status;
      stderr = e.stderr;
    }
    expect(status).toBe(2);
    expect(stderr).toContain(`${join(FIX, 'bad', 'arc', 'test.jsonl')}:3: answerKey "E"`);
  });
});

describe('shared-prefix scoring on the ONNX runtime (float32)', () => {
  // 1024 positions: MMLU 5-shot fits, ARC 25-shot (about 1,800 tokens here) is left-truncated
  const tiny = tinyCheckpointFolder(
    'eval-shared-',
    { vocabSize: 300, maxPositionEmbeddings: 1024, numLayers: 3 },
    9,
  );
  let tokenizer: TextTokenizer;
  let scorer: SubnetSession;
  let data: Record<string, string>;

  beforeAll(async () => {
    tokenizer = await loadTokenizer(tiny.model);
    scorer = await openSubnet(
      tiny.model,
      { layers: 3, intermediate: [48, 48, 48] },
      { cacheDir: join(tiny.dir, 'cache'), threads: 1 },
    );
    data = {
      mmlu: writeMmluData(join(tiny.dir, 'mmlu'), ['astronomy', 'virology'], 5, 5),
      arc: writeArcData(join(tiny.dir, 'arc'), 30, 4),
      winogrande: join(FIX, 'winogrande'),
      truthfulqa: join(FIX, 'truthfulqa'),
    };
  });
  afterAll(async () => {
    await scorer?.close();
  });

  const cases: [string, TaskName, string, EvalSettings][] = [
    ['MMLU 5-shot', 'mmlu', 'mmlu', { shots: 5 }],
    ['ARC 25-shot', 'arc_easy', 'arc', { shots: 25 }],
    ['WinoGrande 0-shot (no shared prefix)', 'winogrande', 'winogrande', {}],
    ['TruthfulQA 0-shot', 'truthfulqa_mc1', 'truthfulqa', {}],
  ];

  it.each(cases)(
    '%s: the shared path gives the unshared paths\u2019 predictions and log-likelihoods within 1e-4',
    async (_, name, where, settings) => {
      const task = loadTask(name, data[where]!, { fewshot: (settings.shots ?? 0) > 0 });
      const prepared = prepareTask(task, tokenizer, settings);
      const longest = Math.max(
        ...prepared.items.flatMap((i) => i.requests.map((r) => r.context.length + r.continuation.length - 1)),
      );
      // ARC 25-shot runs the left-truncated windows; the others fit
      expect(longest > scorer.maxLength).toBe(name === 'arc_easy');
      const shared = await evaluatePrepared(prepared, scorer, { path: 'shared' });
      const fast = await evaluatePrepared(prepared, scorer, { path: 'fast' });
      const naive = await evaluatePrepared(prepared, scorer, { path: 'naive' });
      for (const other of [fast, naive]) {
        expect(shared.items.map((i) => i.pred)).toEqual(other.items.map((i) => i.pred));
        shared.items.forEach((item, i) =>
          item.loglikelihoods.forEach((ll, c) => {
            expect(Number.isFinite(ll)).toBe(true);
            expect(Math.abs(ll - other.items[i]!.loglikelihoods[c]!)).toBeLessThan(1e-4);
          }),
        );
      }
      expect(shared.stats.tokens).toBeLessThanOrEqual(fast.stats.tokens);
      if (name === 'mmlu') expect(shared.stats.tokens * 2).toBeLessThan(fast.stats.tokens);
    },
  );
});
