import { join } from 'node:path';
import { EvalDataError } from '../../../src/eval/errors';
import { loadTask } from '../../../src/eval/tasks';
import type { McDoc } from '../../../src/eval/types';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');
const strip = (docs: McDoc[]) => docs.map(({ source: _source, ...rest }) => rest);

describe('ARC loaders', () => {
  it('reads the original distribution, picking the subset and the splits from the folder', () => {
    const task = loadTask('arc_easy', join(FIX, 'arc'), { fewshot: true });
    expect(task.files.eval.map((f) => f.slice(FIX.length))).toEqual([
      '/arc/ARC-V1-Feb2018-2/ARC-Easy/ARC-Easy-Test.jsonl',
    ]);
    expect(task.files.fewshot.map((f) => f.slice(FIX.length))).toEqual([
      '/arc/ARC-V1-Feb2018-2/ARC-Easy/ARC-Easy-Train.jsonl',
    ]);
    expect(task.docs).toHaveLength(4);
    expect(task.fewshotDocs).toHaveLength(6);
    expect(task.docs[0]).toEqual({
      id: 'T-E-1',
      source: { file: task.files.eval[0], line: 1 },
      text: 'Question: Which object in the sky gives off its own light?\nAnswer:',
      choices: ['the moon', 'the sun', 'a planet', 'a comet tail'],
      gold: 1,
    });
    const challenge = loadTask('arc_challenge', join(FIX, 'arc'), { fewshot: false });
    expect(challenge.docs.map((d) => d.id)).toEqual(['T-C-1', 'T-C-2']);
  });

  it('finds the gold index among numeric labels ("1".."4") as among letters', () => {
    const docs = loadTask('arc_easy', join(FIX, 'arc'), { fewshot: false }).docs;
    expect(docs[1]!.choices).toEqual(['liters', 'meters', 'grams', 'degrees']);
    expect(docs[1]!.gold).toBe(2);
  });

  it('keeps rows with 3 and with 5 choices', () => {
    const docs = loadTask('arc_easy', join(FIX, 'arc'), { fewshot: false }).docs;
    expect(docs[2]!.choices).toEqual(['carbon dioxide', 'sand', 'milk']);
    expect(docs[2]!.gold).toBe(0);
    expect(docs[3]!.choices).toHaveLength(5);
    expect(docs[3]!.gold).toBe(3);
  });

  it('reads the Hugging Face export (JSON lines shards and a JSON array) into the same documents', () => {
    const original = loadTask('arc_easy', join(FIX, 'arc'), { fewshot: true });
    const hf = loadTask('arc_easy', join(FIX, 'arc-hf'), { fewshot: true });
    expect(strip(hf.docs)).toEqual(strip(original.docs));
    expect(strip(hf.fewshotDocs!)).toEqual(strip(original.fewshotDocs!));
    // records of a JSON array report the line where each record starts
    expect(hf.fewshotDocs!.map((d) => d.source.line).slice(0, 3)).toEqual([2, 21, 40]);
  });

  it('accepts a split file directly and finds the train split beside it', () => {
    const file = join(FIX, 'arc', 'ARC-V1-Feb2018-2', 'ARC-Challenge', 'ARC-Challenge-Test.jsonl');
    const task = loadTask('arc_challenge', file, { fewshot: true });
    expect(task.docs).toHaveLength(2);
    expect(task.fewshotDocs).toHaveLength(3);
  });
});

describe('MMLU loaders', () => {
  it('reads the CSV distribution (RFC 4180 quoting, multi-line fields), subjects alphabetically, dev for shots', () => {
    const task = loadTask('mmlu', join(FIX, 'mmlu'), { fewshot: true });
    expect(task.docs.map((d) => d.id)).toEqual([
      'abstract_algebra/0',
      'abstract_algebra/1',
      'high_school_physics/0',
    ]);
    expect(task.docs[1]!.text).toBe(
      'Statement: "a, b" commute.\nIs the group abelian if all pairs commute?\nA. True\nB. False\nC. Depends on "order"\nD. None of these\nAnswer:',
    );
    expect(task.docs[1]!.source.line).toBe(3);
    // question.strip() removes the leading spaces and the trailing newline inside the quotes
    expect(task.docs[0]!.text.startsWith('Is every subgroup of an abelian group normal?\nA. Yes\n')).toBe(
      true,
    );
    expect(task.docs[0]!.choices).toEqual(['A', 'B', 'C', 'D']);
    expect(task.docs.map((d) => d.gold)).toEqual([0, 0, 2]);
    expect(task.fewshotDocs!.map((d) => d.id)).toEqual([
      'abstract_algebra/0',
      'abstract_algebra/1',
      'abstract_algebra/2',
      'high_school_physics/0',
      'high_school_physics/1',
    ]);
  });

  it('reads the Hugging Face export into the same documents', () => {
    const csv = loadTask('mmlu', join(FIX, 'mmlu'), { fewshot: true });
    const hf = loadTask('mmlu', join(FIX, 'mmlu-hf'), { fewshot: true });
    expect(strip(hf.docs)).toEqual(strip(csv.docs));
    expect(strip(hf.fewshotDocs!)).toEqual(strip(csv.fewshotDocs!));
  });
});

describe('TruthfulQA loaders', () => {
  it('reads mc_task.json keeping answer order, even for integer-like answers', () => {
    const task = loadTask('truthfulqa_mc1', join(FIX, 'truthfulqa'));
    expect(task.docs).toHaveLength(2);
    expect(task.docs[1]!.choices).toEqual(['I have no comment.', '1960', '1901', 'Never']);
    expect(task.docs[1]!.gold).toBe(0);
    expect(task.docs[0]!.source.line).toBe(2);
  });

  it('reads the Hugging Face export into the same documents', () => {
    const original = loadTask('truthfulqa_mc1', join(FIX, 'truthfulqa'));
    const hf = loadTask('truthfulqa_mc1', join(FIX, 'truthfulqa-hf'));
    expect(strip(hf.docs)).toEqual(strip(original.docs));
  });
});

describe('WinoGrande loaders', () => {
  it('reads dev.jsonl and train_xl.jsonl (not the smaller train sizes) for partial evaluation', () => {
    const task = loadTask('winogrande', join(FIX, 'winogrande'), { fewshot: true });
    expect(task.files.fewshot[0]).toMatch(/train_xl\.jsonl$/);
    expect(task.fewshotDocs).toHaveLength(7);
    expect(task.docs[0]).toMatchObject({
      id: 'wg-dev-1',
      choices: [
        'Sarah lent her umbrella to Maria because Sarah',
        'Sarah lent her umbrella to Maria because Maria',
      ],
      target: 'was going out in the rain.',
      gold: 1,
    });
    expect(task.docs[2]!.target).toBe('.');
  });

  it('reads the Hugging Face export (JSON lines in .json files) into the same documents', () => {
    const original = loadTask('winogrande', join(FIX, 'winogrande'), { fewshot: true });
    const hf = loadTask('winogrande', join(FIX, 'winogrande-hf'), { fewshot: true });
    expect(strip(hf.docs)).toEqual(strip(original.docs));
    expect(strip(hf.fewshotDocs!)).toEqual(strip(original.fewshotDocs!));
  });
});

describe('bad files stop the run with the file and line', () => {
  const message = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(EvalDataError);
      return (err as Error).message;
    }
    throw new Error('expected an error');
  };

  it('ARC: an answer key that is not among the labels', () => {
    const file = join(FIX, 'bad', 'arc', 'test.jsonl');
    expect(message(() => loadTask('arc_easy', file))).toContain(
      `${file}:3: answerKey "E" is not one of the labels A, B`,
    );
  });

  it('ARC: a line that is not JSON', () => {
    const file = join(FIX, 'bad', 'arc-syntax', 'test.jsonl');
    expect(message(() => loadTask('arc_easy', file))).toMatch(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3: invalid JSON`),
    );
  });

  it('MMLU: a bad answer letter after a record spanning two lines', () => {
    const dir = join(FIX, 'bad', 'mmlu');
    const msg = message(() => loadTask('mmlu', dir));
    expect(msg).toContain(`${join(dir, 'data', 'test', 'anatomy_test.csv')}:3: answer:`);
    expect(msg).toContain('1 bad record');
  });

  it('TruthfulQA: the true answer not listed first', () => {
    const dir = join(FIX, 'bad', 'truthfulqa');
    expect(message(() => loadTask('truthfulqa_mc1', dir))).toContain(
      `${join(dir, 'mc_task.json')}:15: mc1_targets must have exactly one true answer and list it first`,
    );
  });

  it('WinoGrande: every bad row is listed', () => {
    const file = join(FIX, 'bad', 'winogrande', 'dev.jsonl');
    const msg = message(() => loadTask('winogrande', file));
    expect(msg).toContain('2 bad records');
    expect(msg).toContain(`${file}:2: sentence: sentence has no "_" blank`);
    expect(msg).toContain(`${file}:3: answer: must be "1" or "2"`);
  });

  it('a missing split is named', () => {
    expect(message(() => loadTask('arc_easy', join(FIX, 'mmlu'), { fewshot: false }))).toMatch(
      /no arc_easy test split found/,
    );
    expect(message(() => loadTask('mmlu', join(FIX, 'nowhere')))).toMatch(/does not exist/);
  });
});
