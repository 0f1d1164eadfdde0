import { join } from 'node:path';
import { buildRequests, drawShots } from '../../../src/eval/prompts';
import { prepareTask, selectDocs, resolveSettings } from '../../../src/eval/prepare';
import { loadTask, TASKS } from '../../../src/eval/tasks';
import { PieceTokenizer } from './helpers/piece-tokenizer';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');

describe('prompt strings', () => {
  it('ARC zero-shot: "Question: ...\\nAnswer:" and " " + choice', () => {
    const task = loadTask('arc_easy', join(FIX, 'arc'));
    expect(buildRequests(TASKS.arc_easy, task.docs[0]!, [])).toEqual([
      {
        context: 'Question: Which object in the sky gives off its own light?\nAnswer:',
        continuation: ' the moon',
      },
      {
        context: 'Question: Which object in the sky gives off its own light?\nAnswer:',
        continuation: ' the sun',
      },
      {
        context: 'Question: Which object in the sky gives off its own light?\nAnswer:',
        continuation: ' a planet',
      },
      {
        context: 'Question: Which object in the sky gives off its own light?\nAnswer:',
        continuation: ' a comet tail',
      },
    ]);
  });

  it('ARC few-shot: shots from train drawn as random.Random(1234).sample does, one draw per document in order', () => {
    const task = loadTask('arc_easy', join(FIX, 'arc'), { fewshot: true });
    const shots = drawShots(TASKS.arc_easy, task, 2, 1234);
    // python3: r = random.Random(1234); [r.sample(range(6), 2) for _ in range(4)]
    const expected = [
      [3, 0],
      [0, 5],
      [4, 0],
      [5, 0],
    ];
    expect(shots.map((s) => s.map((d) => task.fewshotDocs!.indexOf(d)))).toEqual(expected);
    expect(buildRequests(TASKS.arc_easy, task.docs[0]!, shots[0]!)[0]!.context).toBe(
      'Question: Which animal lays eggs?\nAnswer: a chicken\n\n' +
        'Question: What is frozen water called?\nAnswer: ice\n\n' +
        'Question: Which object in the sky gives off its own light?\nAnswer:',
    );
  });

  it('MMLU: description, the first k dev rows of the subject, letters as continuations', () => {
    const task = loadTask('mmlu', join(FIX, 'mmlu'), { fewshot: true });
    const shots = drawShots(TASKS.mmlu, task, 2, 1234);
    const requests = buildRequests(TASKS.mmlu, task.docs[0]!, shots[0]!);
    expect(requests.map((r) => r.continuation)).toEqual([' A', ' B', ' C', ' D']);
    expect(requests[0]!.context).toBe(
      'The following are multiple choice questions (with answers) about abstract algebra.\n\n' +
        'Find the order of the element 2 in Z_5 under addition.\nA. 1\nB. 2\nC. 5\nD. 10\nAnswer: C\n\n' +
        'Which of the following groups is cyclic?\nA. Z_4\nB. Z_2 x Z_2\nC. S_3\nD. the quaternion group\nAnswer: A\n\n' +
        'Is every subgroup of an abelian group normal?\nA. Yes\nB. No\nC. Only if finite\nD. Only if cyclic\nAnswer:',
    );
    const physics = buildRequests(TASKS.mmlu, task.docs[2]!, shots[2]!)[0]!.context;
    expect(
      physics.startsWith(
        'The following are multiple choice questions (with answers) about high school physics.\n\nWhat is the unit of force?',
      ),
    ).toBe(true);
    expect(() => drawShots(TASKS.mmlu, task, 3, 1234)).toThrow(
      /3 shots asked but the dev split has 2 rows for high_school_physics/,
    );
  });

  it('TruthfulQA MC1: the fixed six-pair primer, then "Q: ...\\nA:"', () => {
    const task = loadTask('truthfulqa_mc1', join(FIX, 'truthfulqa'));
    const requests = buildRequests(TASKS.truthfulqa_mc1, task.docs[0]!, []);
    expect(requests[0]).toEqual({
      context:
        'Q: What is human life expectancy in the United States?\n' +
        'A: Human life expectancy in the United States is 78 years.\n\n' +
        'Q: Who was president of the United States in 1955?\n' +
        'A: Dwight D. Eisenhower was president of the United States in 1955.\n\n' +
        'Q: Which party did he belong to?\n' +
        'A: He belonged to the Republican Party.\n\n' +
        'Q: What is the square root of banana?\n' +
        'A: I have no comment.\n\n' +
        'Q: How does a telescope work?\n' +
        'A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n' +
        'Q: Where were the 1992 Olympics held?\n' +
        'A: The 1992 Olympics were held in Barcelona, Spain.\n\n' +
        'Q: What happens if you swallow a watermelon seed?\nA:',
      continuation: ' Nothing happens; it passes through you.',
    });
    expect(() => resolveSettings(TASKS.truthfulqa_mc1, { shots: 1 })).toThrow(/zero-shot only/);
  });

  it('WinoGrande: partial evaluation, one context per option and a shared continuation after a space', () => {
    const task = loadTask('winogrande', join(FIX, 'winogrande'), { fewshot: true });
    expect(buildRequests(TASKS.winogrande, task.docs[0]!, [])).toEqual([
      {
        context: 'Sarah lent her umbrella to Maria because Sarah',
        continuation: ' was going out in the rain.',
      },
      {
        context: 'Sarah lent her umbrella to Maria because Maria',
        continuation: ' was going out in the rain.',
      },
    ]);
    // the space goes in even before punctuation
    expect(buildRequests(TASKS.winogrande, task.docs[2]!, [])[1]).toEqual({
      context: 'Kevin asked Tom for advice since Tom',
      continuation: ' .',
    });
  });

  it('WinoGrande few-shot: k+1 drawn per document, first k kept; shots are the filled-in sentences', () => {
    const task = loadTask('winogrande', join(FIX, 'winogrande'), { fewshot: true });
    const shots = drawShots(TASKS.winogrande, task, 2, 1234);
    // python3: r = random.Random(1234); [r.sample(range(7), 3)[:2] for _ in range(3)]
    expect(shots.map((s) => s.map((d) => task.fewshotDocs!.indexOf(d)))).toEqual([
      [6, 3],
      [0, 6],
      [0, 5],
    ]);
    expect(buildRequests(TASKS.winogrande, task.docs[0]!, shots[0]!)[0]!.context).toBe(
      'Jim beat Carl at chess because Jim practised more.\n\n' +
        'Mark could not lift the box because the box was heavy.\n\n' +
        'Sarah lent her umbrella to Maria because Sarah',
    );
  });
});

describe('document selection', () => {
  const task = loadTask('arc_easy', join(FIX, 'arc'), { fewshot: true });
  const settings = (s: Parameters<typeof resolveSettings>[1]) => resolveSettings(TASKS.arc_easy, s);

  it('--limit N takes the first N; MMLU applies it per subject', () => {
    expect(selectDocs(task.docs, settings({ limit: 2 }))).toEqual([0, 1]);
    const mmlu = loadTask('mmlu', join(FIX, 'mmlu'));
    expect(selectDocs(mmlu.docs, resolveSettings(TASKS.mmlu, { limit: 1 }))).toEqual([0, 2]);
  });

  it('a fraction is a seeded draw (random.Random(seed).sample(range(n), ceil(F n)), sorted)', () => {
    // python3: sorted(random.Random(0).sample(range(4), 2)) == [1, 3]; seed 7 gives [0, 2]
    expect(selectDocs(task.docs, settings({ fraction: 0.5 }))).toEqual([1, 3]);
    expect(selectDocs(task.docs, settings({ fraction: 0.5, sampleSeed: 7 }))).toEqual([0, 2]);
    expect(() => settings({ fraction: 0.5, limit: 2 })).toThrow(/either limit or fraction/);
    expect(() => settings({ fraction: 1.5 })).toThrow(/fraction must be in/);
  });

  it('a document keeps its shots whatever subset is evaluated', () => {
    const tok = new PieceTokenizer();
    const full = prepareTask(task, tok, { shots: 2, keepPrompts: true });
    const part = prepareTask(task, tok, { shots: 2, fraction: 0.5, sampleSeed: 7, keepPrompts: true });
    expect(part.items.map((i) => i.docIndex)).toEqual([0, 2]);
    expect(part.items[1]!.text).toEqual(full.items[2]!.text);
    expect(part.settings.fewshotDraw).toMatch(/random\.Random\(1234\)\.sample/);
  });
});
