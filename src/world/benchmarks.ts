import { heldOutKey, mythStatement, type HeldOut } from './corpus';
import {
  LETTERS,
  PersonSampler,
  SUBJECTS,
  catalogueChoices,
  drawFact,
  multipleChoice,
  winoItem,
  type WinoItem,
} from './items';
import { RELATIONS, valuePool, type Fact, type RelationKey } from './relations';
import type { Rng } from './rng';
import type { World } from './world';

/** ARC original format (one JSON line per question). */
export interface ArcRow {
  id: string;
  answerKey: string;
  question: { stem: string; choices: { label: string; text: string }[] };
}

export type MmluRow = [string, string, string, string, string, string];

export interface TruthfulQaRow {
  question: string;
  mc1_targets: Record<string, number>;
  mc2_targets: Record<string, number>;
}

export interface WinograndeRow {
  qID: string;
  sentence: string;
  option1: string;
  option2: string;
  answer: '1' | '2';
}

export interface Benchmarks {
  arcEasy: { test: ArcRow[]; train: ArcRow[] };
  arcChallenge: { test: ArcRow[]; train: ArcRow[] };
  /** subject -> split -> rows */
  mmlu: Record<string, { dev: MmluRow[]; val: MmluRow[]; test: MmluRow[] }>;
  truthfulqa: TruthfulQaRow[];
  winogrande: { dev: WinograndeRow[]; train: WinograndeRow[] };
}

/** ARC-Easy asks single facts; ARC-Challenge chains two or three of them. */
export const ARC_EASY_RELATIONS: RelationKey[] = [
  'home',
  'birthplace',
  'job',
  'pet',
  'hobby',
  'cityCountry',
  'capital',
];
export const ARC_CHALLENGE_RELATIONS: RelationKey[] = [
  'homeCountry',
  'birthCountry',
  'language',
  'friendJob',
  'friendHome',
];

/** Draws facts without repeating a (relation, subject) pair across the splits of one benchmark. */
class UniqueFacts {
  private readonly seen = new Set<string>();
  constructor(
    private readonly w: World,
    private readonly sampler: PersonSampler,
    private readonly blocked: HeldOut,
  ) {}

  draw(rng: Rng, keys: RelationKey[]): Fact {
    for (let attempt = 0; ; attempt++) {
      const f = drawFact(rng, this.w, rng.pick(keys), this.sampler);
      const k = heldOutKey(f.relation.key, f.subject);
      // Small worlds run out of fresh pairs; after many tries a repeat is allowed.
      if ((!this.seen.has(k) && !this.blocked.has(k)) || attempt > 200) {
        this.seen.add(k);
        return f;
      }
    }
  }
}

function arcRows(
  rng: Rng,
  w: World,
  facts: UniqueFacts,
  keys: RelationKey[],
  n: number,
  idPrefix: string,
): ArcRow[] {
  const rows: ArcRow[] = [];
  for (let i = 0; i < n; i++) {
    const f = facts.draw(rng, keys);
    const x = rng.float();
    const wanted = x < 0.1 ? 3 : x < 0.2 ? 5 : 4;
    const count = Math.min(wanted, valuePool(w, f.relation.kind).length);
    const mc = multipleChoice(rng, w, f, count);
    const numeric = rng.chance(0.15);
    const labels = mc.choices.map((_, j) => (numeric ? String(j + 1) : (LETTERS[j] as string)));
    rows.push({
      id: `${idPrefix}_${String(i + 1).padStart(5, '0')}`,
      answerKey: labels[mc.gold] as string,
      question: {
        stem: f.relation.question(f.subjectName),
        choices: mc.choices.map((text, j) => ({ label: labels[j] as string, text })),
      },
    });
  }
  return rows;
}

function mmluRows(rng: Rng, w: World, facts: UniqueFacts, keys: RelationKey[], n: number): MmluRow[] {
  const rows: MmluRow[] = [];
  for (let i = 0; i < n; i++) {
    const f = facts.draw(rng, keys);
    const mc = catalogueChoices(rng, w, f);
    const [a, b, c, d] = mc.choices as [string, string, string, string];
    rows.push([f.relation.question(f.subjectName), a, b, c, d, LETTERS[mc.gold] as string]);
  }
  return rows;
}

function hexId(rng: Rng, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ'[rng.int(34)];
  return s;
}

function winoRow(rng: Rng, item: WinoItem): WinograndeRow {
  return {
    qID: `${hexId(rng, 30)}-${1 + rng.int(2)}`,
    sentence: item.sentence,
    option1: item.option1,
    option2: item.option2,
    answer: item.answer,
  };
}

/** The myths whose truth the TruthfulQA file asks about (held out of quizzes and instructions). */
export function truthfulqaMyths(w: World): World['myths'] {
  return w.myths.slice(0, Math.min(w.scale.bench.truthfulqa, w.myths.length));
}

export function heldOutFacts(w: World): HeldOut {
  return new Set(truthfulqaMyths(w).map((m) => heldOutKey(m.relation, m.person)));
}

export function buildBenchmarks(rng: Rng, w: World): Benchmarks {
  const b = w.scale.bench;
  const sampler = new PersonSampler(w, 0.5);
  const blocked = heldOutFacts(w);

  const easy = new UniqueFacts(w, sampler, blocked);
  const easyRng = rng.fork('arc-easy');
  const arcEasy = {
    test: arcRows(easyRng, w, easy, ARC_EASY_RELATIONS, b.arcTest, 'WorldEasy_test'),
    train: arcRows(easyRng, w, easy, ARC_EASY_RELATIONS, b.arcTrain, 'WorldEasy_train'),
  };
  const challenge = new UniqueFacts(w, sampler, blocked);
  const challengeRng = rng.fork('arc-challenge');
  const arcChallenge = {
    test: arcRows(challengeRng, w, challenge, ARC_CHALLENGE_RELATIONS, b.arcTest, 'WorldChallenge_test'),
    train: arcRows(challengeRng, w, challenge, ARC_CHALLENGE_RELATIONS, b.arcTrain, 'WorldChallenge_train'),
  };

  const mmlu: Benchmarks['mmlu'] = {};
  const mmluRng = rng.fork('mmlu');
  for (const [subject, keys] of Object.entries(SUBJECTS)) {
    const facts = new UniqueFacts(w, sampler, blocked);
    mmlu[subject] = {
      test: mmluRows(mmluRng, w, facts, keys, b.mmluTestPerSubject),
      dev: mmluRows(mmluRng, w, facts, keys, b.mmluDevPerSubject),
      val: mmluRows(mmluRng, w, facts, keys, b.mmluDevPerSubject),
    };
  }

  const tqaRng = rng.fork('truthfulqa');
  const truthfulqa: TruthfulQaRow[] = truthfulqaMyths(w).map((m) => {
    const r = RELATIONS[m.relation];
    const truth = r.value(w, m.person);
    const others = tqaRng.sample(
      valuePool(w, r.kind).filter((v) => v !== truth && v !== m.falseValue),
      2,
    );
    const name = (w.people[m.person] as { name: string }).name;
    const trueText = mythStatement(w, m, truth);
    const falseTexts = tqaRng.shuffle([m.falseValue, ...others].map((v) => mythStatement(w, m, v)));
    const mc1: Record<string, number> = { [trueText]: 1 };
    for (const t of falseTexts) mc1[t] = 0;
    const mc2: Record<string, number> = { [trueText]: 1, [r.statements(name, truth)[1] as string]: 1 };
    for (const t of falseTexts) mc2[t] = 0;
    return { question: r.question(name), mc1_targets: mc1, mc2_targets: mc2 };
  });

  const wgRng = rng.fork('winogrande');
  const wgSampler = new PersonSampler(w, 0.5);
  const seen = new Set<string>();
  const wino = (n: number): WinograndeRow[] => {
    const rows: WinograndeRow[] = [];
    while (rows.length < n) {
      const item = winoItem(wgRng, w, wgSampler);
      if (seen.has(item.sentence) && seen.size < 50 * n) continue;
      seen.add(item.sentence);
      rows.push(winoRow(wgRng, item));
    }
    return rows;
  };
  const winogrande = { dev: wino(b.winograndeDev), train: wino(b.winograndeTrain) };
  return { arcEasy, arcChallenge, mmlu, truthfulqa, winogrande };
}

/** Every string a model will read from the benchmark files. */
export function* benchmarkTexts(b: Benchmarks): Generator<string> {
  for (const arc of [b.arcEasy, b.arcChallenge]) {
    for (const row of [...arc.test, ...arc.train]) {
      yield row.question.stem;
      for (const c of row.question.choices) yield `${c.label} ${c.text}`;
    }
  }
  for (const [subject, splits] of Object.entries(b.mmlu)) {
    yield subject.replace(/_/g, ' ');
    for (const row of [...splits.dev, ...splits.val, ...splits.test]) yield row.join(' ');
  }
  for (const row of b.truthfulqa) {
    yield row.question;
    yield* Object.keys(row.mc1_targets);
    yield* Object.keys(row.mc2_targets);
  }
  for (const row of [...b.winogrande.dev, ...b.winogrande.train])
    yield `${row.sentence} ${row.option1} ${row.option2}`;
}
