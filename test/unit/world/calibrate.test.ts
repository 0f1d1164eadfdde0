import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mmluText } from '../../../src/eval/loaders/mmlu';
import type { LoadedTask, McDoc, TaskName } from '../../../src/eval/types';
import {
  calibrationSubnets,
  checkTargets,
  shuffleMmluOptions,
  type SubnetScores,
} from '../../../src/world/calibrate';
import { WORLD_CONFIG_DIR, loadWorldConfigs } from '../../../src/world/embedded';
import { Rng } from '../../../src/world/rng';

describe('world configs', () => {
  it('reads config/world and applies the reduced overrides', () => {
    const full = loadWorldConfigs();
    const reduced = loadWorldConfigs(WORLD_CONFIG_DIR, true);
    expect(full.model.search_space.layers).toContain(full.model.architecture.num_hidden_layers);
    expect(reduced.model.architecture.num_hidden_layers).toBeLessThan(
      full.model.architecture.num_hidden_layers,
    );
    expect(reduced.model.search_space.layers).toContain(reduced.model.architecture.num_hidden_layers);
    expect(reduced.model.architecture.hidden_size).toBe(full.model.architecture.hidden_size);
  });

  it('rejects a training file that sets what the world fills in, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'world-cfg-'));
    try {
      for (const f of ['model.json', 'instatune.json'])
        writeFileSync(
          join(dir, f),
          JSON.stringify(loadWorldConfigs()[f === 'model.json' ? 'model' : 'instatune']),
        );
      writeFileSync(join(dir, 'pretrain.json'), JSON.stringify({ epochs: 1, data: 'x.jsonl' }));
      expect(() => loadWorldConfigs(dir)).toThrow(/pretrain\.json/);
      writeFileSync(join(dir, 'pretrain.json'), JSON.stringify({ epochs: 1 }));
      writeFileSync(
        join(dir, 'model.json'),
        JSON.stringify({
          architecture: { hidden_size: 8 },
          search_space: { layers: [1], intermediate: [1] },
        }),
      );
      expect(() => loadWorldConfigs(dir)).toThrow(/model\.json: field architecture\.intermediate_size/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('calibration', () => {
  it('reports the full network, two in between and the smallest, largest first', () => {
    const subnets = calibrationSubnets(8, [6, 7, 8], [172, 344]);
    expect(subnets.map((s) => s.spec.layers)).toEqual([8, 7, 8, 6]);
    expect(subnets[0]!.spec.intermediate).toEqual(Array(8).fill(344));
    expect(subnets[2]!.spec.intermediate).toEqual(Array(8).fill(172));
    expect(subnets[3]!.spec.intermediate).toEqual(Array(6).fill(172));
  });

  const tasks: TaskName[] = ['arc_easy', 'arc_challenge', 'mmlu', 'truthfulqa_mc1', 'winogrande'];
  const row = (name: string, accs: number[]): SubnetScores => ({
    subnet: { name, spec: { layers: 1, intermediate: [1] } },
    seconds: 0,
    tasks: tasks.map((task, i) => ({
      task,
      acc: accs[i]!,
      stderr: 2,
      chance: task === 'winogrande' ? 50 : 25,
      n: 100,
    })),
  });

  it('checks the targets: 20 above chance, 10 below on three tasks, graded in between', () => {
    const good = checkTargets([
      row('full', [60, 50, 50, 46, 75]),
      row('a', [55, 45, 48, 40, 70]),
      row('b', [50, 40, 45, 35, 68]),
      row('smallest', [45, 35, 44, 30, 66]),
    ]);
    expect(good.map((t) => t.holds)).toEqual([true, true, true]);
    const bad = checkTargets([
      row('full', [60, 50, 40, 46, 75]),
      row('a', [70, 45, 48, 40, 70]),
      row('b', [50, 40, 45, 35, 68]),
      row('smallest', [45, 45, 44, 40, 70]),
    ]);
    expect(bad.map((t) => t.holds)).toEqual([false, false, false]);
  });

  it('adds the time targets when the timings are given: generation 30 s, training 10 minutes', () => {
    const scores = [row('full', [60, 50, 50, 46, 75]), row('smallest', [45, 35, 44, 30, 66])];
    const fast = checkTargets(scores, { generateSeconds: 1, pretrainSeconds: 500, instatuneSeconds: 60 });
    expect(fast.slice(3).map((t) => [t.holds, t.detail])).toEqual([
      [true, '1.0 s'],
      [true, '500 s + 60 s = 560 s wall'],
    ]);
    const slow = checkTargets(scores, { generateSeconds: 31, pretrainSeconds: 550, instatuneSeconds: 60 });
    expect(slow.slice(3).map((t) => t.holds)).toEqual([false, false]);
  });
});

describe('shuffleMmluOptions', () => {
  const doc = (id: string, options: string[], gold: number): McDoc => ({
    id,
    source: { file: 'x_test.csv', line: 1 },
    subject: 'x',
    text: mmluText(`Question ${id}?`, options),
    choices: ['A', 'B', 'C', 'D'],
    gold,
  });
  const task: LoadedTask = {
    name: 'mmlu',
    docs: Array.from({ length: 20 }, (_, i) => doc(String(i), ['w', 'x', 'y', 'z'], i % 4)),
    fewshotDocs: [doc('dev', ['w', 'x', 'y', 'z'], 2)],
    files: { eval: [], fewshot: [] },
  } as LoadedTask;
  const optionAt = (d: McDoc, i: number): string => d.text.split('\n')[1 + i]!.slice(3);

  it('moves the answer letter with its option, seeded', () => {
    const a = shuffleMmluOptions(task, new Rng(1));
    expect(shuffleMmluOptions(task, new Rng(1))).toEqual(a);
    for (const [i, d] of [...a.docs, ...a.fewshotDocs!].entries()) {
      const before = [...task.docs, ...task.fewshotDocs!][i]!;
      expect(optionAt(d, d.gold)).toBe(optionAt(before, before.gold));
      expect(d.text.startsWith(before.text.split('\n')[0]!)).toBe(true);
      expect(d.text.endsWith('\nAnswer:')).toBe(true);
    }
    expect(new Set(a.docs.map((d) => d.text)).size).toBeGreaterThan(1);
  });

  it('rejects a prompt that is not in the MMLU layout', () => {
    const bad = { ...task, docs: [{ ...task.docs[0]!, text: 'Question: what?\nAnswer:' }] };
    expect(() => shuffleMmluOptions(bad, new Rng(1))).toThrow(/not an MMLU prompt/);
  });
});
