/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluatePrepared, loadTask, prepareTask, type TaskName } from '../../src/eval';
import { openSubnet, type SubnetSession } from '../../src/model/runtime';
import { loadTokenizer } from '../../src/model/tokenizer';
import type { TextTokenizer } from '../../src/model/types';
import { describeRealModel, realModel } from '../helpers/real-model';

/**
 * The five tasks scored with SmolLM2-135M (imported from its GGUF, byte-level BPE) on a few
 * dozen rows per task written for the test in each benchmark's original file format: every row
 * scored, the fast (shared-context) path agreeing with the naive one (WinoGrande), and a real model far above
 * chance on questions any pre-trained model knows.
 */
jest.setTimeout(900_000);

const FACTS: [string, string][] = [
  ['France', 'Paris'],
  ['Japan', 'Tokyo'],
  ['Italy', 'Rome'],
  ['Germany', 'Berlin'],
  ['Spain', 'Madrid'],
  ['England', 'London'],
  ['Russia', 'Moscow'],
  ['Egypt', 'Cairo'],
  ['China', 'Beijing'],
  ['Greece', 'Athens'],
  ['Portugal', 'Lisbon'],
  ['Ireland', 'Dublin'],
  ['Austria', 'Vienna'],
  ['Norway', 'Oslo'],
  ['Sweden', 'Stockholm'],
  ['Poland', 'Warsaw'],
  ['Hungary', 'Budapest'],
  ['Thailand', 'Bangkok'],
  ['Kenya', 'Nairobi'],
  ['Argentina', 'Buenos Aires'],
  ['Peru', 'Lima'],
  ['Cuba', 'Havana'],
  ['Denmark', 'Copenhagen'],
  ['Finland', 'Helsinki'],
];
const LETTERS = ['A', 'B', 'C', 'D'];

/** Three wrong capitals for fact i and the position of the right one, fixed per i. */
function choicesFor(i: number): { options: string[]; answer: number } {
  const wrong = [1, 7, 13].map((d) => FACTS[(i + d) % FACTS.length]![1]);
  const answer = i % 4;
  const options = [...wrong];
  options.splice(answer, 0, FACTS[i]![1]);
  return { options, answer };
}

function writeData(root: string): Record<TaskName, string> {
  const arc = (name: string, stem: (c: string) => string): string => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const lines = FACTS.map(([country], i) => {
      const { options, answer } = choicesFor(i);
      return JSON.stringify({
        id: `${name}-${i}`,
        question: { stem: stem(country), choices: options.map((text, k) => ({ text, label: LETTERS[k] })) },
        answerKey: LETTERS[answer],
      });
    });
    writeFileSync(join(dir, 'test.jsonl'), `${lines.join('\n')}\n`);
    return dir;
  };
  const mmlu = join(root, 'mmlu', 'data', 'test');
  mkdirSync(mmlu, { recursive: true });
  writeFileSync(
    join(mmlu, 'high_school_geography_test.csv'),
    FACTS.map(([country], i) => {
      const { options, answer } = choicesFor(i);
      return [`What is the capital city of ${country}?`, ...options, LETTERS[answer]]
        .map((f) => `"${f}"`)
        .join(',');
    }).join('\n') + '\n',
  );
  const tqa = join(root, 'truthfulqa');
  mkdirSync(tqa, { recursive: true });
  writeFileSync(
    join(tqa, 'mc_task.json'),
    JSON.stringify(
      FACTS.map(([country], i) => {
        const { options, answer } = choicesFor(i);
        const ordered = [options[answer]!, ...options.filter((_, k) => k !== answer)];
        const targets = Object.fromEntries(
          ordered.map((o, k) => [`The capital of ${country} is ${o}.`, k === 0 ? 1 : 0]),
        );
        return { question: `What is the capital of ${country}?`, mc1_targets: targets, mc2_targets: targets };
      }),
      null,
      2,
    ),
  );
  const wino = join(root, 'winogrande');
  mkdirSync(wino, { recursive: true });
  writeFileSync(
    join(wino, 'dev.jsonl'),
    FACTS.map(([country, capital], i) => {
      const other = FACTS[(i + 5) % FACTS.length]![0];
      const first = i % 2 === 0;
      return JSON.stringify({
        qID: `wg-${i}`,
        sentence: `She flew to ${capital} because _ was the country she wanted to see.`,
        option1: first ? country : other,
        option2: first ? other : country,
        answer: first ? '1' : '2',
      });
    }).join('\n') + '\n',
  );
  return {
    arc_easy: arc('ARC-Easy', (c) => `What is the capital of ${c}?`),
    arc_challenge: arc('ARC-Challenge', (c) => `Which city is the seat of the government of ${c}?`),
    mmlu: join(root, 'mmlu', 'data'),
    truthfulqa_mc1: tqa,
    winogrande: wino,
  };
}

describeRealModel('SmolLM2-135M (imported from GGUF) on the five tasks', () => {
  let dir: string;
  let tokenizer: TextTokenizer;
  let full: SubnetSession;
  let paths: Record<TaskName, string>;
  beforeAll(async () => {
    const model = await realModel();
    dir = mkdtempSync(join(tmpdir(), 'real-tasks-'));
    paths = writeData(join(dir, 'data'));
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
