import { HOBBIES, JOBS, PETS } from './lexicon';
import type { City, Country, Person, SubjectKind, ValueKind, World } from './world';

/**
 * A question one can ask about a subject of the world: its answer, the pool its distractors come
 * from, how many facts must be chained to answer it (hops), and how the corpus states it.
 */
export interface Relation {
  key: string;
  subject: SubjectKind;
  kind: ValueKind;
  hops: number;
  question(subject: string): string;
  /** Plain statements of the fact (the corpus varies among them). */
  statements(subject: string, value: string): string[];
}

export interface Fact {
  relation: Relation;
  /** Index of the subject in world.people / cities / countries. */
  subject: number;
  subjectName: string;
  value: string;
}

const cityName = (w: World, i: number): string => (w.cities[i] as City).name;
const countryOfCity = (w: World, i: number): Country => w.countries[(w.cities[i] as City).country] as Country;
const person = (w: World, i: number): Person => w.people[i] as Person;

type Valuer = (w: World, subject: number) => string;

interface RelationDef extends Relation {
  value: Valuer;
}

function def(r: RelationDef): RelationDef {
  return r;
}

export const RELATIONS = {
  home: def({
    key: 'home',
    subject: 'person',
    kind: 'city',
    hops: 1,
    value: (w, i) => cityName(w, person(w, i).home),
    question: (s) => `Where does ${s} live?`,
    statements: (s, v) => [`${s} lives in ${v}.`, `${s} has a home in ${v}.`],
  }),
  birthplace: def({
    key: 'birthplace',
    subject: 'person',
    kind: 'city',
    hops: 1,
    value: (w, i) => cityName(w, person(w, i).birthplace),
    question: (s) => `Where was ${s} born?`,
    statements: (s, v) => [`${s} was born in ${v}.`, `${s} was born in the city of ${v}.`],
  }),
  job: def({
    key: 'job',
    subject: 'person',
    kind: 'job',
    hops: 1,
    value: (w, i) => person(w, i).job,
    question: (s) => `What is the job of ${s}?`,
    statements: (s, v) => [`${s} works as a ${v}.`, `${s} is a ${v} by trade.`],
  }),
  pet: def({
    key: 'pet',
    subject: 'person',
    kind: 'pet',
    hops: 1,
    value: (w, i) => person(w, i).pet,
    question: (s) => `What pet does ${s} keep?`,
    statements: (s, v) => [`${s} keeps a ${v} as a pet.`, `${s} has a pet ${v}.`],
  }),
  hobby: def({
    key: 'hobby',
    subject: 'person',
    kind: 'hobby',
    hops: 1,
    value: (w, i) => person(w, i).hobby,
    question: (s) => `What is the hobby of ${s}?`,
    statements: (s, v) => [`The hobby of ${s} is ${v}.`, `${s} spends free time on ${v}.`],
  }),
  friend: def({
    key: 'friend',
    subject: 'person',
    kind: 'person',
    hops: 1,
    value: (w, i) => person(w, person(w, i).friend).name,
    question: (s) => `Who is the best friend of ${s}?`,
    statements: (s, v) => [`The best friend of ${s} is ${v}.`, `${s} and ${v} are best friends.`],
  }),
  homeCountry: def({
    key: 'homeCountry',
    subject: 'person',
    kind: 'country',
    hops: 2,
    value: (w, i) => countryOfCity(w, person(w, i).home).name,
    question: (s) => `In which country does ${s} live?`,
    statements: (s, v) => [`${s} lives in the country of ${v}.`],
  }),
  birthCountry: def({
    key: 'birthCountry',
    subject: 'person',
    kind: 'country',
    hops: 2,
    value: (w, i) => countryOfCity(w, person(w, i).birthplace).name,
    question: (s) => `In which country was ${s} born?`,
    statements: (s, v) => [`${s} was born in the country of ${v}.`],
  }),
  language: def({
    key: 'language',
    subject: 'person',
    kind: 'language',
    hops: 3,
    value: (w, i) => countryOfCity(w, person(w, i).home).language,
    question: (s) => `What language does ${s} speak at home?`,
    statements: (s, v) => [`${s} speaks ${v} at home.`],
  }),
  friendJob: def({
    key: 'friendJob',
    subject: 'person',
    kind: 'job',
    hops: 2,
    value: (w, i) => person(w, person(w, i).friend).job,
    question: (s) => `What is the job of the best friend of ${s}?`,
    statements: (s, v) => [`The best friend of ${s} works as a ${v}.`],
  }),
  friendHome: def({
    key: 'friendHome',
    subject: 'person',
    kind: 'city',
    hops: 2,
    value: (w, i) => cityName(w, person(w, person(w, i).friend).home),
    question: (s) => `Where does the best friend of ${s} live?`,
    statements: (s, v) => [`The best friend of ${s} lives in ${v}.`],
  }),
  cityCountry: def({
    key: 'cityCountry',
    subject: 'city',
    kind: 'country',
    hops: 1,
    value: (w, i) => countryOfCity(w, i).name,
    question: (s) => `In which country is ${s}?`,
    statements: (s, v) => [`${s} is a city in ${v}.`, `${s} lies in ${v}.`],
  }),
  capital: def({
    key: 'capital',
    subject: 'country',
    kind: 'city',
    hops: 1,
    value: (w, i) => cityName(w, (w.countries[i] as Country).capital),
    question: (s) => `What is the capital of ${s}?`,
    statements: (s, v) => [`The capital of ${s} is ${v}.`, `${v} is the capital of ${s}.`],
  }),
  countryLanguage: def({
    key: 'countryLanguage',
    subject: 'country',
    kind: 'language',
    hops: 1,
    value: (w, i) => (w.countries[i] as Country).language,
    question: (s) => `What language do people speak in ${s}?`,
    statements: (s, v) => [`People in ${s} speak ${v}.`, `The language of ${s} is ${v}.`],
  }),
} as const;

export type RelationKey = keyof typeof RELATIONS;

/** The person facts stated directly in biographies (one hop). */
export const BIO_RELATIONS: RelationKey[] = ['home', 'birthplace', 'job', 'pet', 'hobby', 'friend'];
/** The person facts that chain two or more of them. */
export const COMPOSITE_RELATIONS: RelationKey[] = [
  'homeCountry',
  'birthCountry',
  'language',
  'friendJob',
  'friendHome',
];
export const PLACE_RELATIONS: RelationKey[] = ['cityCountry', 'capital', 'countryLanguage'];

export function subjectName(w: World, kind: SubjectKind, i: number): string {
  if (kind === 'person') return person(w, i).name;
  if (kind === 'city') return cityName(w, i);
  return (w.countries[i] as Country).name;
}

export function subjectCount(w: World, kind: SubjectKind): number {
  return kind === 'person' ? w.people.length : kind === 'city' ? w.cities.length : w.countries.length;
}

export function fact(w: World, key: RelationKey, subject: number): Fact {
  const relation = RELATIONS[key];
  return {
    relation,
    subject,
    subjectName: subjectName(w, relation.subject, subject),
    value: relation.value(w, subject),
  };
}

/** Every value a relation of this kind can take in this world (the distractor pool). */
export function valuePool(w: World, kind: ValueKind): string[] {
  switch (kind) {
    case 'city':
      return w.cities.map((c) => c.name);
    case 'country':
      return w.countries.map((c) => c.name);
    case 'language':
      return w.countries.map((c) => c.language);
    case 'job':
      return [...JOBS];
    case 'pet':
      return [...PETS];
    case 'hobby':
      return [...HOBBIES];
    case 'person':
      return w.people.map((p) => p.name);
  }
}
