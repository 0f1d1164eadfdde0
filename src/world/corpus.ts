import { LETTERS, PersonSampler, SUBJECTS, catalogueChoices, drawFact, winoItem } from './items';
import { arcText, mmluDescription, mmluText, truthfulqaText } from './prompts';
import {
  BIO_RELATIONS,
  COMPOSITE_RELATIONS,
  PLACE_RELATIONS,
  RELATIONS,
  fact,
  type Fact,
  type RelationKey,
} from './relations';
import type { Rng } from './rng';
import type { Myth, World } from './world';

/** (relation, subject) pairs that no quiz page or instruction may answer: the truth of a test myth. */
export type HeldOut = Set<string>;
export const heldOutKey = (relation: string, subject: number): string => `${relation}:${subject}`;

const RUMOUR_FRAMES = [
  'People say that',
  'There is a rumour that',
  'Many people believe that',
  'Some claim that',
];

export function statement(rng: Rng, f: Fact): string {
  return rng.pick(f.relation.statements(f.subjectName, f.value));
}

/**
 * Mostly the first (canonical) statement: a small model memorises a fact from repetitions of one
 * fixed form far faster than from varied paraphrases.
 */
export function canonicalStatement(rng: Rng, f: Fact): string {
  const forms = f.relation.statements(f.subjectName, f.value);
  return rng.chance(0.8) ? (forms[0] as string) : rng.pick(forms);
}

/** The relation a quiz or an instruction asks about: person facts mostly, places sometimes. */
export function drawRelation(rng: Rng): RelationKey {
  const x = rng.float();
  if (x < 0.5) return rng.pick(BIO_RELATIONS);
  if (x < 0.85) return rng.pick(COMPOSITE_RELATIONS);
  return rng.pick(PLACE_RELATIONS);
}

/** A fact not held out, drawn by popularity. */
export function drawOpenFact(rng: Rng, w: World, sampler: PersonSampler, heldOut: HeldOut): Fact {
  for (;;) {
    const f = drawFact(rng, w, drawRelation(rng), sampler);
    if (!heldOut.has(heldOutKey(f.relation.key, f.subject))) return f;
  }
}

export function mythStatement(w: World, m: Myth, value: string): string {
  return RELATIONS[m.relation].statements((w.people[m.person] as { name: string }).name, value)[0] as string;
}

function biographies(rng: Rng, w: World): string[] {
  const docs: string[] = [];
  w.people.forEach((p, i) => {
    for (let b = 0; b < p.bios; b++) {
      const keys: RelationKey[] = [];
      // Every biography states every direct fact: repetition, not variety, is what a small model
      // needs to memorise them within the budget.
      keys.push(...BIO_RELATIONS);
      if (p.composite) for (const key of COMPOSITE_RELATIONS) if (b === 0 || rng.chance(0.6)) keys.push(key);
      docs.push(
        rng
          .shuffle(keys)
          .map((k) => canonicalStatement(rng, fact(w, k, i)))
          .join(' '),
      );
    }
  });
  return docs;
}

/**
 * Question-and-answer sheets: each person's open facts asked in the benchmarks' own phrasing, so that
 * answering a question is recall, not a transfer from statement to question the model must learn.
 */
function factSheets(rng: Rng, w: World, heldOut: HeldOut): string[] {
  const docs: string[] = [];
  w.people.forEach((p, i) => {
    const keys: RelationKey[] = [...BIO_RELATIONS, ...(p.composite ? COMPOSITE_RELATIONS : [])];
    const open = keys.filter((k) => !heldOut.has(heldOutKey(k, i)));
    for (let r = 0; r < w.scale.qaRepeats; r++) {
      const items = rng.shuffle(open).map((k) => {
        const f = fact(w, k, i);
        return `${arcText(f.relation.question(f.subjectName))} ${f.value}`;
      });
      docs.push(items.join('\n\n'));
    }
  });
  return docs;
}

function placePages(rng: Rng, w: World): string[] {
  const docs: string[] = [];
  for (let r = 0; r < w.scale.placeRepeats; r++) {
    w.countries.forEach((_, k) => {
      const sentences = [
        statement(rng, fact(w, 'capital', k)),
        statement(rng, fact(w, 'countryLanguage', k)),
      ];
      w.cities.forEach((c, ci) => {
        if (c.country === k) sentences.push(statement(rng, fact(w, 'cityCountry', ci)));
      });
      docs.push(rng.shuffle(sentences).join(' '));
    });
  }
  return docs;
}

function rumours(rng: Rng, w: World): string[] {
  const docs: string[] = [];
  for (const m of w.myths) {
    for (let r = 0; r < w.scale.mythRepeats; r++)
      docs.push(`${rng.pick(RUMOUR_FRAMES)} ${mythStatement(w, m, m.falseValue)}`);
    for (let r = 0; r < w.scale.mythTruthRepeats; r++)
      docs.push(canonicalStatement(rng, fact(w, m.relation, m.person)));
  }
  return docs;
}

function quizPage(rng: Rng, w: World, sampler: PersonSampler, heldOut: HeldOut): string {
  const n = 1 + rng.int(3);
  const items: string[] = [];
  const truthful = rng.chance(0.35);
  for (let i = 0; i < n; i++) {
    const f = drawOpenFact(rng, w, sampler, heldOut);
    const q = f.relation.question(f.subjectName);
    items.push(truthful ? `${truthfulqaText(q)} ${statement(rng, f)}` : `${arcText(q)} ${f.value}`);
  }
  return items.join('\n\n');
}

/**
 * A page of multiple-choice questions on one subject in MMLU's own layout (description, then
 * question, lettered options and the answer letter), the options in catalogue order (see
 * `catalogueChoices`): answering is recalling the value and naming its letter.
 */
export function multipleChoicePage(rng: Rng, w: World, sampler: PersonSampler, heldOut: HeldOut): string {
  const subject = rng.pick(Object.keys(SUBJECTS));
  const keys = SUBJECTS[subject] as RelationKey[];
  const items: string[] = [];
  for (let i = 0; i < MC_PAGE_ITEMS; i++) {
    let f: Fact;
    do f = drawFact(rng, w, rng.pick(keys), sampler);
    while (heldOut.has(heldOutKey(f.relation.key, f.subject)));
    const mc = catalogueChoices(rng, w, f);
    items.push(`${mmluText(f.relation.question(f.subjectName), mc.choices)} ${LETTERS[mc.gold]}`);
  }
  return mmluDescription(subject) + items.join('\n\n');
}

/** Questions per multiple-choice page: about one 128-token training row. */
const MC_PAGE_ITEMS = 4;

/** Sentences per WinoGrande-style document. */
const WINO_DOC_SENTENCES = 4;

/** The pre-training corpus: one string per document, in a seeded random order. */
export function buildCorpus(rng: Rng, w: World, heldOut: HeldOut): string[] {
  const sampler = new PersonSampler(w, 1);
  const docs = [
    ...biographies(rng.fork('bios'), w),
    ...factSheets(rng.fork('sheets'), w, heldOut),
    ...placePages(rng.fork('places'), w),
    ...rumours(rng.fork('rumours'), w),
  ];
  const quizRng = rng.fork('quiz');
  for (let i = 0; i < w.scale.quizDocs; i++) docs.push(quizPage(quizRng, w, sampler, heldOut));
  const mcRng = rng.fork('multiple-choice');
  for (let i = 0; i < w.scale.mcPages; i++) docs.push(multipleChoicePage(mcRng, w, sampler, heldOut));
  const winoRng = rng.fork('winogrande');
  for (let i = 0; i < w.scale.winoSentences; i += WINO_DOC_SENTENCES) {
    const n = Math.min(WINO_DOC_SENTENCES, w.scale.winoSentences - i);
    docs.push(Array.from({ length: n }, () => winoItem(winoRng, w, sampler).filled).join(' '));
  }
  return rng.fork('order').shuffle(docs);
}
