import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { TASKS, loadTask } from '../../../src/eval';
import { buildRequests, drawShots } from '../../../src/eval/prompts';
import { TASK_NAMES } from '../../../src/eval/types';
import { loadTokenizer } from '../../../src/model/tokenizer';
import {
  MANIFEST_FILE,
  TASK_PATHS,
  TOKENIZER_DIR,
  generateWorld,
  renderWorld,
} from '../../../src/world/generate';
import { JOBS, PETS } from '../../../src/world/lexicon';
import { FULL_SCALE, REDUCED_SCALE, buildWorld } from '../../../src/world/world';

function listAll(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listAll(p) : [p];
  });
}

describe('world generator', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'world-'));
    generateWorld(join(root, 'a'), { seed: 7, scale: REDUCED_SCALE });
    generateWorld(join(root, 'b'), { seed: 7, scale: REDUCED_SCALE });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes byte-identical files for the same seed', () => {
    const a = listAll(join(root, 'a'))
      .map((f) => relative(join(root, 'a'), f))
      .sort();
    const b = listAll(join(root, 'b'))
      .map((f) => relative(join(root, 'b'), f))
      .sort();
    expect(a).toEqual(b);
    expect(a.length).toBeGreaterThan(15);
    for (const f of a)
      expect(readFileSync(join(root, 'b', f)).equals(readFileSync(join(root, 'a', f)))).toBe(true);
  });

  it('gives another world for another seed, and the manifest hashes every file', () => {
    const other = renderWorld({ seed: 8, scale: REDUCED_SCALE });
    const same = renderWorld({ seed: 7, scale: REDUCED_SCALE });
    expect(other.files.get('corpus.jsonl')).not.toEqual(same.files.get('corpus.jsonl'));
    const manifest = JSON.parse(readFileSync(join(root, 'a', MANIFEST_FILE), 'utf8')) as {
      files: Record<string, string>;
    };
    expect(Object.keys(manifest.files).sort()).toEqual(
      [...same.files.keys()].filter((f) => f !== MANIFEST_FILE).sort(),
    );
  });

  it('rejects a seed that is not a 31-bit integer', () => {
    expect(() => renderWorld({ seed: -1, scale: REDUCED_SCALE })).toThrow(/seed/);
    expect(() => renderWorld({ seed: 1.5, scale: REDUCED_SCALE })).toThrow(/seed/);
  });

  it("writes files the evaluator's loaders read in the original formats", () => {
    const dir = join(root, 'a');
    const b = REDUCED_SCALE.bench;
    const expected = {
      arc_easy: b.arcTest,
      arc_challenge: b.arcTest,
      mmlu: b.mmluTestPerSubject * 5,
      truthfulqa_mc1: b.truthfulqa,
      winogrande: b.winograndeDev,
    };
    for (const name of TASK_NAMES) {
      const task = loadTask(name, join(dir, TASK_PATHS[name]), { fewshot: name !== 'truthfulqa_mc1' });
      expect(task.docs).toHaveLength(expected[name]);
      for (const doc of task.docs) expect(doc.gold).toBeGreaterThanOrEqual(0);
    }
    const arc = loadTask('arc_easy', join(dir, TASK_PATHS.arc_easy), { fewshot: true });
    const counts = new Set(arc.docs.map((d) => d.choices.length));
    expect(counts).toEqual(new Set([3, 4, 5]));
    const raw = readFileSync(join(dir, TASK_PATHS.arc_easy, 'ARC-Easy-Test.jsonl'), 'utf8');
    expect(raw).toMatch(/"answerKey":"[1-5]"/);
    const mmlu = loadTask('mmlu', join(dir, TASK_PATHS.mmlu), { fewshot: true });
    expect(new Set(mmlu.docs.map((d) => d.subject)).size).toBe(5);
    // catalogue order: every value sits under one letter wherever it is an option
    const letterOf = new Map<string, Set<number>>();
    for (const doc of [...mmlu.docs, ...(mmlu.fewshotDocs ?? [])]) {
      const options = [...doc.text.matchAll(/^([ABCD])\. (.*)$/gm)];
      expect(options.map((o) => o[1])).toEqual(['A', 'B', 'C', 'D']);
      for (const [, letter, value] of options)
        letterOf.set(value!, (letterOf.get(value!) ?? new Set()).add('ABCD'.indexOf(letter!)));
    }
    expect([...letterOf.values()].every((letters) => letters.size === 1)).toBe(true);
    expect(new Set(mmlu.docs.map((d) => d.gold))).toEqual(new Set([0, 1, 2, 3]));
  });

  it('has a tokenizer that covers every prompt the evaluator builds, with punctuation split', async () => {
    const dir = join(root, 'a');
    const tok = await loadTokenizer(join(dir, TOKENIZER_DIR));
    expect(tok.encode('Answer:')).toHaveLength(2);
    expect(tok.encode('Zyzzyva')).toEqual([0]); // unknown words map to <unk> (id 0)
    for (const name of TASK_NAMES) {
      const def = TASKS[name];
      const shots = name === 'truthfulqa_mc1' ? 0 : name === 'mmlu' ? 5 : 2;
      const task = loadTask(name, join(dir, TASK_PATHS[name]), { fewshot: shots > 0 });
      const shotDocs = drawShots(def, task, shots, 1234);
      task.docs.forEach((doc, i) => {
        for (const r of buildRequests(def, doc, shotDocs[i]!)) {
          const ids = tok.encode(r.context + r.continuation);
          if (ids.includes(0))
            throw new Error(`${name}: unknown word in ${JSON.stringify(r.context + r.continuation)}`);
        }
      });
    }
    const alpaca = JSON.parse(readFileSync(join(dir, 'alpaca.json'), 'utf8')) as {
      instruction: string;
      input: string;
      output: string;
    }[];
    expect(alpaca.length).toBe(REDUCED_SCALE.instructions);
    for (const row of alpaca.slice(0, 50))
      expect(tok.encode(`${row.instruction} ${row.input} ${row.output}`)).not.toContain(0);
  });
});

describe('world model', () => {
  const w = buildWorld(3, REDUCED_SCALE);

  it('pairs best friends symmetrically and gives every country a capital of its own', () => {
    w.people.forEach((p, i) => {
      expect(p.friend).not.toBe(i);
      expect(w.people[p.friend]!.friend).toBe(i);
    });
    w.countries.forEach((c, k) => expect(w.cities[c.capital]!.country).toBe(k));
  });

  it('plants falsehoods that differ from the truth, and a long tail of rarely described people', () => {
    for (const m of w.myths) {
      const p = w.people[m.person]!;
      const truth = m.relation === 'home' ? w.cities[p.home]!.name : m.relation === 'job' ? p.job : p.pet;
      expect(m.falseValue).not.toBe(truth);
    }
    const bios = buildWorld(3, FULL_SCALE).people.map((p) => p.bios);
    expect(Math.max(...bios)).toBeGreaterThanOrEqual(3 * Math.min(...bios));
  });
});

describe('benchmark contents', () => {
  const { files } = renderWorld({ seed: 5, scale: REDUCED_SCALE });

  it('TruthfulQA lists the true answer first and the planted falsehood among the false ones', () => {
    const rows = JSON.parse(files.get(TASK_PATHS.truthfulqa_mc1)!) as {
      mc1_targets: Record<string, number>;
    }[];
    const corpus = files.get('corpus.jsonl')!;
    for (const row of rows) {
      const answers = Object.entries(row.mc1_targets);
      expect(answers[0]![1]).toBe(1);
      expect(answers.slice(1).every(([, v]) => v === 0)).toBe(true);
      // exactly one false answer is repeated in the corpus as a rumour
      const rumoured = answers
        .slice(1)
        .filter(([text]) => corpus.includes(`that ${text.replace(/"/g, '\\"')}`));
      expect(rumoured).toHaveLength(1);
    }
  });

  it('the corpus holds MMLU-layout practice pages whose answer letters name the true value', () => {
    const w = buildWorld(5, REDUCED_SCALE);
    const truth = new Map<string, { value: string; pool: readonly string[] }>();
    for (const p of w.people) {
      truth.set(`What pet does ${p.name} keep?`, { value: p.pet, pool: PETS });
      truth.set(`What is the job of ${p.name}?`, { value: p.job, pool: JOBS });
    }
    const docs = files
      .get('corpus.jsonl')!
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { text: string }).text);
    const pages = docs.filter((d) => d.startsWith('The following are multiple choice questions'));
    expect(pages).toHaveLength(REDUCED_SCALE.mcPages);
    let checked = 0;
    for (const page of pages) {
      for (const item of page.split('\n\n').slice(1)) {
        const m = item.match(/^(.*)\nA\. (.*)\nB\. (.*)\nC\. (.*)\nD\. (.*)\nAnswer: ([ABCD])$/);
        expect(m).not.toBeNull();
        const t = truth.get(m![1]!);
        if (t === undefined) continue;
        const options = m!.slice(2, 6);
        expect(options['ABCD'.indexOf(m![6]!)]).toBe(t.value);
        // catalogue order: option j comes from column j of the value pool
        expect(options.map((o) => t.pool.indexOf(o) % 4)).toEqual([0, 1, 2, 3]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
    // WinoGrande-style sentences, with the blank filled by the right person
    const templates =
      /went to the market|after work because|at the station|had a busy day|wrote a letter|said goodbye|talked with/g;
    const wino = docs.join('\n').match(templates) ?? [];
    expect(wino.length).toBe(REDUCED_SCALE.winoSentences);
    expect(docs.some((d) => d.includes(' _ '))).toBe(false);
  });

  it('WinoGrande blanks resolve to the person the clause is true of', () => {
    const w = buildWorld(5, REDUCED_SCALE);
    const byName = new Map(w.people.map((p) => [p.name, p]));
    const attrs = (name: string): Record<string, string> => {
      const p = byName.get(name)!;
      return { pet: p.pet, job: p.job, home: w.cities[p.home]!.name, hobby: p.hobby };
    };
    const rows = files
      .get(`${TASK_PATHS.winogrande}/dev.jsonl`)!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { sentence: string; option1: string; option2: string; answer: string });
    for (const r of rows) {
      const [, tail] = r.sentence.split('_') as [string, string];
      const words = new Set(tail.match(/\w+/g));
      const [right, wrong] = r.answer === '1' ? [r.option1, r.option2] : [r.option2, r.option1];
      const a = attrs(right);
      const b = attrs(wrong);
      const telling = Object.keys(a).filter((k) => words.has(a[k]!) && a[k] !== b[k]);
      expect(telling.length).toBeGreaterThan(0);
    }
    expect(new Set(rows.map((r) => r.answer)).size).toBe(2);
  });
});
