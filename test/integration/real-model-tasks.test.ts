/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluatePrepared, loadTask, prepareTask, type TaskName } from '../../src/eval';
import { openSubnet, type SubnetSession } from '../../src/model/runtime';
import { loadTokenizer } from '../../src/model/tokenizer';
import type { TextTokenizer } from '../../src/model/types';
import { describeRealModel, realModel } from '../helpers/real-model';
import { FACTS, writeTaskData } from '../helpers/real-model-data';

/**
 * The five tasks scored with SmolLM2-135M (imported from its GGUF, byte-level BPE) on a few
 * dozen rows per task written for the test in each benchmark's original file format: every row
 * scored, the fast (shared-context) path agreeing with the naive one (WinoGrande), and a real model far above
 * chance on questions any pre-trained model knows.
 */
jest.setTimeout(900_000);

describeRealModel('SmolLM2-135M (imported from GGUF) on the five tasks', () => {
  let dir: string;
  let tokenizer: TextTokenizer;
  let full: SubnetSession;
  let paths: Record<TaskName, string>;
  beforeAll(async () => {
    const model = await realModel();
    dir = mkdtempSync(join(tmpdir(), 'real-tasks-'));
    paths = writeTaskData(join(dir, 'data'));
    tokenizer = await loadTokenizer(model.dir);
    full = await openSubnet(
      model.dir,
      { layers: 30, intermediate: new Array<number>(30).fill(1536) },
      { cacheDir: join(dir, 'cache'), threads: 2 },
    );
  });
  afterAll(async () => {
    await full?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scores every row of every task, fast path as the naive path, far above chance', async () => {
    const lines: string[] = [];
    const acc: Record<string, number> = {};
    for (const name of ['arc_easy', 'arc_challenge', 'mmlu', 'truthfulqa_mc1', 'winogrande'] as TaskName[]) {
      const prepared = prepareTask(loadTask(name, paths[name], { fewshot: false }), tokenizer, {});
      const fast = await evaluatePrepared(prepared, full, { path: 'fast' });
      expect(fast.nSamples).toBe(FACTS.length);
      for (const item of fast.items)
        for (const ll of item.loglikelihoods) expect(Number.isFinite(ll)).toBe(true);
      if (name === 'winogrande') {
        const naive = await evaluatePrepared(prepared, full, { path: 'naive' });
        fast.items.forEach((item, i) =>
          item.loglikelihoods.forEach((ll, c) =>
            expect(Math.abs(ll - naive.items[i]!.loglikelihoods[c]!)).toBeLessThan(1e-3),
          ),
        );
      }
      acc[name] = fast.results[name]!.acc;
      lines.push(`${name}: acc ${(100 * acc[name]!).toFixed(1)}% of ${fast.nSamples}`);
    }
    console.log(`SmolLM2-135M full network:\n${lines.join('\n')}`);
    // capitals of well-known countries: chance is 25% (50% on WinoGrande)
    expect(acc.arc_easy).toBeGreaterThanOrEqual(0.6);
    expect(acc.truthfulqa_mc1).toBeGreaterThanOrEqual(0.6);
    expect(acc.arc_challenge).toBeGreaterThanOrEqual(0.6);
    expect(acc.winogrande).toBeGreaterThanOrEqual(0.6);
  });
});
