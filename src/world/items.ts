import { RELATIONS, fact, subjectCount, valuePool, type Fact, type RelationKey } from './relations';
import type { Rng } from './rng';
import type { Person, World } from './world';

/** MMLU-style subjects, each a group of relations. */
export const SUBJECTS: Record<string, RelationKey[]> = {
  world_geography: ['cityCountry', 'capital', 'countryLanguage', 'homeCountry', 'birthCountry'],
  residence: ['home', 'birthplace', 'friendHome'],
  occupations: ['job', 'friendJob'],
  household_pets: ['pet'],
  social_life: ['friend', 'hobby', 'language'],
};

export const LETTERS = ['A', 'B', 'C', 'D', 'E'] as const;

export interface Choices {
  choices: string[];
  gold: number;
}

/** The true value and n - 1 distinct false ones from the same pool, in random order. */
export function multipleChoice(rng: Rng, w: World, f: Fact, n: number, mustInclude: string[] = []): Choices {
  const pool = valuePool(w, f.relation.kind).filter((v) => v !== f.value && !mustInclude.includes(v));
  const wrong = [...mustInclude, ...rng.sample(pool, n - 1 - mustInclude.length)];
  const choices = rng.shuffle([f.value, ...wrong]);
  return { choices, gold: choices.indexOf(f.value) };
}

/**
 * Four options in catalogue order: the value pool is split into four columns (index mod 4), option
 * A always comes from column A and so on, so a value always sits under the same letter.
 */
export function catalogueChoices(rng: Rng, w: World, f: Fact): Choices {
  const pool = valuePool(w, f.relation.kind);
  const gold = pool.indexOf(f.value) % 4;
  const choices = [0, 1, 2, 3].map((c) =>
    c === gold ? f.value : rng.pick(pool.filter((_, i) => i % 4 === c)),
  );
  return { choices, gold };
}

/** A person index drawn with probability proportional to popularity^power (power 0: uniform). */
export class PersonSampler {
  private readonly cumulative: number[] = [];
  private readonly total: number;

  constructor(
    private readonly w: World,
    power: number,
  ) {
    let sum = 0;
    for (const p of w.people) {
      sum += Math.pow(p.bios, power);
      this.cumulative.push(sum);
    }
    this.total = sum;
  }

  draw(rng: Rng): number {
    const x = rng.float() * this.total;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.cumulative[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  get size(): number {
    return this.w.people.length;
  }
}

/** A fact of the relation `key` about a subject drawn by `sampler` (people) or uniformly (places). */
export function drawFact(rng: Rng, w: World, key: RelationKey, sampler: PersonSampler): Fact {
  const r = RELATIONS[key];
  const subject = r.subject === 'person' ? sampler.draw(rng) : rng.int(subjectCount(w, r.subject));
  return fact(w, key, subject);
}

/** WinoGrande-style: two people, a blank, and a clause that is true of only one of them. */
export interface WinoItem {
  sentence: string;
  option1: string;
  option2: string;
  answer: '1' | '2';
  /** The sentence with the right person in the blank (the corpus's form). */
  filled: string;
}

const WINO_TEMPLATES: {
  attr: 'pet' | 'job' | 'home' | 'hobby';
  text: (a: string, b: string, v: string) => string;
}[] = [
  {
    attr: 'pet',
    text: (a, b, v) => `${a} and ${b} went to the market, and _ bought food for the ${v} at home.`,
  },
  { attr: 'pet', text: (a, b, v) => `${a} visited ${b} after work because _ needed help with a sick ${v}.` },
  { attr: 'job', text: (a, b, v) => `${a} met ${b} at the station, and _ was late for work as a ${v}.` },
  { attr: 'job', text: (a, b, v) => `${a} called ${b} because _ had a busy day as a ${v}.` },
  { attr: 'home', text: (a, b, v) => `${a} wrote a letter to ${b}, and _ posted it from home in ${v}.` },
  { attr: 'home', text: (a, b, v) => `${a} and ${b} said goodbye, and _ took the train home to ${v}.` },
  { attr: 'hobby', text: (a, b, v) => `${a} talked with ${b} for an hour, and _ spoke mostly about ${v}.` },
];

function attrValue(w: World, p: Person, attr: 'pet' | 'job' | 'home' | 'hobby'): string {
  if (attr === 'home') return (w.cities[p.home] as { name: string }).name;
  return p[attr];
}

/**
 * Half the pairs share another fact (same city, job, pet or hobby), so that the blank can only be
 * resolved by the one fact that tells them apart.
 */
export function winoItem(rng: Rng, w: World, sampler: PersonSampler): WinoItem {
  for (;;) {
    const t = rng.pick(WINO_TEMPLATES);
    const a = w.people[sampler.draw(rng)] as Person;
    let partners = w.people.filter((p) => p !== a && attrValue(w, p, t.attr) !== attrValue(w, a, t.attr));
    if (rng.chance(0.5)) {
      const other = rng.pick((['pet', 'job', 'home', 'hobby'] as const).filter((x) => x !== t.attr));
      const close = partners.filter((p) => attrValue(w, p, other) === attrValue(w, a, other));
      if (close.length) partners = close;
    }
    if (!partners.length) continue;
    const b = rng.pick(partners);
    const [first, second] = rng.chance(0.5) ? [a, b] : [b, a];
    const target = rng.chance(0.5) ? first : second;
    const v = attrValue(w, target, t.attr);
    return {
      sentence: t.text(first.name, second.name, v),
      option1: first.name,
      option2: second.name,
      answer: target === first ? '1' : '2',
      filled: t.text(first.name, second.name, v).replace('_', target.name),
    };
  }
}
