import { join } from 'node:path';
import { aggregate, argmax, itemResults, meanStderr, pooledStderr } from '../../../src/eval/metrics';
import { prepareTask } from '../../../src/eval/prepare';
import { buildReport, perItemLines } from '../../../src/eval/report';
import { loadTask } from '../../../src/eval/tasks';
import { evaluatePrepared } from '../../../src/eval';
import { PieceTokenizer } from './helpers/piece-tokenizer';
import { ReferenceScorer } from './helpers/reference-scorer';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');
const tok = new PieceTokenizer();

describe('metrics on a hand-computed ARC example', () => {
  const prepared = prepareTask(loadTask('arc_easy', join(FIX, 'arc')), tok, {});
  // choices (code points): [the moon 8, the sun 7, a planet 8, a comet tail 12] gold 1
  //                        [liters 6, meters 6, grams 5, degrees 7] gold 2
  //                        [carbon dioxide 14, sand 4, milk 4] gold 0
  //                        [coal 4, oil 3, natural gas 11, wind 4, uranium 7] gold 3
  const lls = [
    [-5.0, -4.0, -6.0, -7.0], // pred 1 (right); norm -0.625 -0.571 -0.75 -0.583 -> 1 (right)
    [-3.0, -3.5, -3.2, -3.6], // pred 0 (wrong); norm -0.5 -0.583 -0.64 -0.514 -> 0 (wrong)
    [-6.0, -2.0, -2.5], // pred 1 (wrong); norm -0.429 -0.5 -0.625 -> 0 (right)
    [-2.0, -3.0, -5.0, -2.0, -4.0], // tie 0/3 -> first (wrong); norm -0.5 -1 -0.4545 -0.5 -0.571 -> 2 (wrong)
  ];
  const items = itemResults(prepared, lls);

  it('acc and acc_norm per item', () => {
    expect(items.map((i) => [i.pred, i.acc, i.pred_norm, i.acc_norm])).toEqual([
      [1, 1, 1, 1],
      [0, 0, 0, 0],
      [1, 0, 0, 1],
      [0, 0, 2, 0],
    ]);
    expect(items[0]!.choice_lengths).toEqual([8, 7, 8, 12]);
  });

  it('means with standard errors from the sample standard deviation', () => {
    const { results } = aggregate(prepared, items);
    const r = results.arc_easy!;
    expect(r.acc).toBe(0.25);
    // acc [1,0,0,0]: sample variance 0.75/3 = 0.25, sd 0.5, / sqrt(4)
    expect(r.acc_stderr).toBeCloseTo(0.25, 12);
    expect(r.acc_norm).toBe(0.5);
    // acc_norm [1,0,1,0]: sample variance 1/3, sd 0.57735, / 2
    expect(r.acc_norm_stderr).toBeCloseTo(Math.sqrt(1 / 3) / 2, 12);
    expect(r.samples).toBe(4);
  });

  it('normalises by code points, not UTF-16 units or bytes', () => {
    const doc = {
      id: 'x',
      source: { file: 'f', line: 1 },
      text: 'Question: q\nAnswer:',
      choices: ['é🙂', 'abc'],
      gold: 1,
    };
    const synthetic = prepareTask(
      { name: 'arc_easy', docs: [doc], files: { eval: ['f'], fewshot: [] } },
      tok,
      {},
    );
    expect(synthetic.items[0]!.choiceLengths).toEqual([2, 3]);
    // -2.1 / 2 = -1.05 < -3 / 3 = -1 -> choice 1; with UTF-16 length 3 it would be choice 0
    expect(itemResults(synthetic, [[-2.1, -3.0]])[0]!.pred_norm).toBe(1);
  });

  it('argmax takes the first of equal maxima, like numpy', () => {
    expect(argmax([-1, -0.5, -0.5])).toBe(1);
    expect(meanStderr([1])).toBeNull();
  });
});

describe('MMLU group score', () => {
  it('is the mean over all questions, with the pooled standard error of the subjects', () => {
    expect(pooledStderr([0.5, 0.25], [2, 4])).toBeCloseTo(Math.sqrt((0.25 * 2 + 3 * 0.0625 * 4) / 4 / 6), 12);
    expect(pooledStderr([0.5, null], [2, 1])).toBeNull();
    const prepared = prepareTask(loadTask('mmlu', join(FIX, 'mmlu')), tok, {});
    // abstract_algebra: 2 questions (gold A, A); high_school_physics: 1 (gold C)
    const items = itemResults(prepared, [
      [-1, -2, -3, -4],
      [-2, -1, -3, -4],
      [-3, -2, -1, -4],
    ]);
    const { results, groupSubtasks } = aggregate(prepared, items);
    expect(results.mmlu!.acc).toBeCloseTo(2 / 3, 12);
    expect(results.mmlu_abstract_algebra!.acc).toBe(0.5);
    expect(results.mmlu_abstract_algebra!.acc_stderr).toBeCloseTo(0.5, 12);
    expect(results.mmlu_high_school_physics!.acc_stderr).toBeNull();
    expect(results.mmlu!.acc_stderr).toBeNull(); // the harness's "N/A" propagates
    expect(results.mmlu_humanities).toBeUndefined();
    expect(results.mmlu_stem!.acc).toBeCloseTo(2 / 3, 12);
    expect(groupSubtasks.mmlu).toEqual(['mmlu_stem']);
    expect(groupSubtasks.mmlu_stem).toEqual(['mmlu_abstract_algebra', 'mmlu_high_school_physics']);
  });
});

describe('results JSON', () => {
  it('has the harness shape: results.<task>.acc(_stderr), acc_norm(_stderr), n_samples, n_shot, configs, settings, identity', async () => {
    const task = loadTask('arc_challenge', join(FIX, 'arc'), { fewshot: true });
    const prepared = prepareTask(task, tok, { shots: 1, limit: 1, bos: true, keepPrompts: true });
    const result = await evaluatePrepared(prepared, new ReferenceScorer(256, tok.vocabSize));
    const report = buildReport([result], {
      model: { dir: '/m', identity: 'abc' },
      subnet: { layers: 2, intermediate: [8, 4] },
    });
    expect(Object.keys(report.results.arc_challenge!).sort()).toEqual([
      'acc',
      'acc_norm',
      'acc_norm_stderr',
      'acc_stderr',
      'alias',
    ]);
    expect(report.results.arc_challenge!.acc_stderr).toBeNull();
    expect(report.n_samples).toEqual({ arc_challenge: 1 });
    expect(report.n_shot).toEqual({ arc_challenge: 1 });
    expect(report.configs.arc_challenge).toMatchObject({
      num_docs: 2,
      eval_split: 'test',
      fewshot_split: 'train',
      num_fewshot: 1,
    });
    expect(report.settings).toMatchObject({
      bos: true,
      max_length: 256,
      limit: 1,
      fewshot_seed: 1234,
      scoring_path: 'shared',
    });
    expect(report.subnet).toEqual({ layers: 2, intermediate: [8, 4] });
    expect(report.model).toEqual({ dir: '/m', identity: 'abc' });
    const line = JSON.parse(perItemLines([result]).trim());
    expect(line).toMatchObject({ task: 'arc_challenge', doc_id: 0, id: 'T-C-1', gold: 0, shots: ['R-C-2'] });
    expect(line.loglikelihoods).toHaveLength(4);
    expect(line.arguments[0].context).toMatch(/^Question: What is the main source of energy/);
  });
});
