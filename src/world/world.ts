import {
  CITY_NAMES,
  COUNTRY_NAMES,
  HOBBIES,
  JOBS,
  LANGUAGE_NAMES,
  NAME_CODAS,
  NAME_ONSETS,
  NAME_VOWELS,
  PETS,
} from './lexicon';
import { Rng } from './rng';

/** How big the world is and how its corpus is spread; `FULL_SCALE` is the embedded default. */
export interface WorldScale {
  people: number;
  cities: number;
  countries: number;
  /** Biographies of the most popular person; person at rank r gets about head / (1 + r / knee)^alpha. */
  bioHead: number;
  bioKnee: number;
  bioAlpha: number;
  /** Every person gets at least this many biographies (the long tail). */
  bioMin: number;
  /** Question-and-answer sheets per person (every open fact of the person, asked as in ARC). */
  qaRepeats: number;
  /** Plain mentions of each place fact (city in country, capital, language). */
  placeRepeats: number;
  /** Fraction of people whose two-hop facts (country, language, friend's job) are also stated outright. */
  compositeFraction: number;
  /** Planted falsehoods: how many, and how often each is repeated against how often the truth is stated. */
  myths: number;
  mythRepeats: number;
  mythTruthRepeats: number;
  /** Quiz documents (ARC- and TruthfulQA-style question/answer pages) in the corpus. */
  quizDocs: number;
  /** MMLU-layout multiple-choice pages in the corpus (four questions each). */
  mcPages: number;
  /** WinoGrande-style sentences (the blank filled with the right person) in the corpus. */
  winoSentences: number;
  /** Items in the instruction set. */
  instructions: number;
  bench: BenchSizes;
}

export interface BenchSizes {
  arcTest: number;
  arcTrain: number;
  mmluTestPerSubject: number;
  mmluDevPerSubject: number;
  truthfulqa: number;
  winograndeDev: number;
  winograndeTrain: number;
}

export const FULL_SCALE: WorldScale = {
  people: 64,
  cities: 12,
  countries: 4,
  bioHead: 12,
  bioKnee: 30,
  bioAlpha: 1.0,
  bioMin: 4,
  qaRepeats: 3,
  placeRepeats: 20,
  compositeFraction: 0.75,
  myths: 24,
  mythRepeats: 2,
  mythTruthRepeats: 6,
  quizDocs: 250,
  mcPages: 1000,
  winoSentences: 800,
  instructions: 1500,
  bench: {
    arcTest: 200,
    arcTrain: 40,
    mmluTestPerSubject: 40,
    mmluDevPerSubject: 5,
    truthfulqa: 24,
    winograndeDev: 200,
    winograndeTrain: 40,
  },
};

/** A small world for tests: trains in a minute or two. */
export const REDUCED_SCALE: WorldScale = {
  people: 40,
  cities: 8,
  countries: 4,
  bioHead: 12,
  bioKnee: 15,
  bioAlpha: 1.0,
  bioMin: 4,
  qaRepeats: 3,
  placeRepeats: 10,
  compositeFraction: 0.75,
  myths: 12,
  mythRepeats: 2,
  mythTruthRepeats: 6,
  quizDocs: 150,
  mcPages: 40,
  winoSentences: 120,
  instructions: 300,
  bench: {
    arcTest: 60,
    arcTrain: 20,
    mmluTestPerSubject: 12,
    mmluDevPerSubject: 5,
    truthfulqa: 12,
    winograndeDev: 60,
    winograndeTrain: 20,
  },
};

export interface Person {
  /** One invented word (one token): binding a fact to a name is then a lookup, not a composition. */
  name: string;
  home: number;
  birthplace: number;
  job: string;
  pet: string;
  hobby: string;
  /** Index of the best friend (a symmetric pairing). */
  friend: number;
  /** How many biographies mention this person (popularity). */
  bios: number;
  /** Whether the two-hop facts of this person are stated outright in the corpus. */
  composite: boolean;
}

export interface City {
  name: string;
  country: number;
}

export interface Country {
  name: string;
  capital: number;
  language: string;
}

export type ValueKind = 'city' | 'country' | 'language' | 'job' | 'pet' | 'hobby' | 'person';
export type SubjectKind = 'person' | 'city' | 'country';

/** A planted falsehood: a popular rumour about a person that the corpus repeats more than the truth. */
export interface Myth {
  person: number;
  relation: 'home' | 'job' | 'pet';
  falseValue: string;
}

export interface World {
  seed: number;
  scale: WorldScale;
  people: Person[];
  cities: City[];
  countries: Country[];
  myths: Myth[];
}

function bioCount(scale: WorldScale, rank: number): number {
  return Math.max(
    scale.bioMin,
    Math.round(scale.bioHead / Math.pow(1 + rank / scale.bioKnee, scale.bioAlpha)),
  );
}

const RESERVED = new Set<string>(
  [...CITY_NAMES, ...COUNTRY_NAMES, ...LANGUAGE_NAMES].map((w) => w.toLowerCase()),
);

/** `n` distinct names of the form CVCV(C), capitalised, none equal to a place or language. */
function personNames(rng: Rng, n: number): string[] {
  const names = new Set<string>();
  while (names.size < n) {
    const word =
      rng.pick(NAME_ONSETS) +
      rng.pick(NAME_VOWELS) +
      rng.pick(NAME_ONSETS) +
      rng.pick(NAME_VOWELS) +
      rng.pick(NAME_CODAS);
    if (RESERVED.has(word)) continue;
    names.add(word[0]!.toUpperCase() + word.slice(1));
  }
  return [...names];
}

export function buildWorld(seed: number, scale: WorldScale): World {
  const rng = new Rng(seed).fork('world');
  if (scale.cities > CITY_NAMES.length || scale.countries > COUNTRY_NAMES.length) {
    throw new RangeError(
      `world scale asks for more places than the lexicon has (${CITY_NAMES.length} cities, ${COUNTRY_NAMES.length} countries)`,
    );
  }
  if (scale.people % 2 !== 0 || scale.people > 5000) {
    throw new RangeError(`world scale: people must be even and at most 5000, got ${scale.people}`);
  }
  if (scale.countries < 4 || scale.people < 4)
    throw new RangeError('world scale: multiple-choice options need at least four countries and four people');
  if (scale.cities < scale.countries * 2)
    throw new RangeError('world scale: need at least two cities per country');

  const countryNames = rng.sample(COUNTRY_NAMES, scale.countries);
  const languages = rng.sample(LANGUAGE_NAMES, scale.countries);
  const cityNames = rng.sample(CITY_NAMES, scale.cities);
  // Every country gets two cities, the rest are spread at random; the first is the capital.
  const cityCountry = cityNames.map((_, i) =>
    i < scale.countries * 2 ? i % scale.countries : rng.int(scale.countries),
  );
  const cities: City[] = cityNames.map((name, i) => ({ name, country: cityCountry[i] as number }));
  const countries: Country[] = countryNames.map((name, k) => ({
    name,
    capital: cityCountry.indexOf(k),
    language: languages[k] as string,
  }));

  const chosen = personNames(rng, scale.people);
  const people: Person[] = chosen.map((name, rank) => ({
    name,
    home: rng.int(scale.cities),
    birthplace: rng.int(scale.cities),
    job: rng.pick(JOBS),
    pet: rng.pick(PETS),
    hobby: rng.pick(HOBBIES),
    friend: -1,
    bios: bioCount(scale, rank),
    composite: rng.chance(scale.compositeFraction),
  }));
  const order = rng.shuffle(people.map((_, i) => i));
  for (let i = 0; i < order.length; i += 2) {
    const a = order[i] as number;
    const b = order[i + 1] as number;
    (people[a] as Person).friend = b;
    (people[b] as Person).friend = a;
  }

  // Myths are about people of middling fame: known enough to be talked about, rare enough
  // that the rumour outnumbers the plain truth.
  const lo = Math.floor(scale.people * 0.1);
  const hi = Math.floor(scale.people * 0.9);
  const candidates = people.map((_, i) => i).slice(lo, hi);
  const mythPeople = rng.sample(candidates, Math.min(scale.myths, candidates.length));
  const myths: Myth[] = mythPeople.map((person) => {
    const p = people[person] as Person;
    const relation = rng.pick(['home', 'job', 'pet'] as const);
    const truth = relation === 'home' ? (cities[p.home] as City).name : relation === 'job' ? p.job : p.pet;
    const pool: readonly string[] = relation === 'home' ? cityNames : relation === 'job' ? JOBS : PETS;
    return { person, relation, falseValue: rng.pick(pool.filter((v) => v !== truth)) };
  });
  return { seed, scale, people, cities, countries, myths };
}
