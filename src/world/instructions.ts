import { drawOpenFact, heldOutKey, statement, type HeldOut } from './corpus';
import { LETTERS, PersonSampler, catalogueChoices, winoItem } from './items';
import { RELATIONS, fact } from './relations';
import type { Rng } from './rng';
import type { World } from './world';

/** One row of an Alpaca-format instruction set. */
export interface AlpacaRow {
  instruction: string;
  input: string;
  output: string;
}

const SHORT = ['Answer the question about the world.', 'Give a short answer.', 'Answer with the name only.'];
const SENTENCE = ['Answer the question in a full sentence.', 'Answer truthfully in one sentence.'];
const CHOICE = [
  'Choose the correct option and answer with its letter.',
  'Pick the right answer and give its letter.',
];
const BLANK = ['Who does the blank refer to?', 'Fill in the blank with the right person.'];

/** The stand-in for Alpaca: instructions about the world, drawn by popularity. */
export function buildInstructions(rng: Rng, w: World, heldOut: HeldOut): AlpacaRow[] {
  const sampler = new PersonSampler(w, 0.5);
  const rows: AlpacaRow[] = [];
  // Myths not used as test questions teach that a rumour is not the answer.
  const trainMyths = w.myths.filter((m) => !heldOut.has(heldOutKey(m.relation, m.person)));
  for (let i = 0; i < w.scale.instructions; i++) {
    const kind = rng.float();
    if (kind < 0.35) {
      const f = drawOpenFact(rng, w, sampler, heldOut);
      rows.push({ instruction: rng.pick(SHORT), input: f.relation.question(f.subjectName), output: f.value });
    } else if (kind < 0.6) {
      const f = drawOpenFact(rng, w, sampler, heldOut);
      rows.push({
        instruction: rng.pick(SENTENCE),
        input: f.relation.question(f.subjectName),
        output: statement(rng, f),
      });
    } else if (kind < 0.7 && trainMyths.length) {
      const m = rng.pick(trainMyths);
      const f = fact(w, m.relation, m.person);
      rows.push({
        instruction: SENTENCE[1] as string,
        input: RELATIONS[m.relation].question(f.subjectName),
        output: statement(rng, f),
      });
    } else if (kind < 0.88) {
      const f = drawOpenFact(rng, w, sampler, heldOut);
      const mc = catalogueChoices(rng, w, f);
      const options = mc.choices.map((c, j) => `${LETTERS[j]}. ${c}`).join('\n');
      rows.push({
        instruction: rng.pick(CHOICE),
        input: `${f.relation.question(f.subjectName)}\n${options}`,
        output: LETTERS[mc.gold] as string,
      });
    } else {
      const item = winoItem(rng, w, sampler);
      rows.push({
        instruction: rng.pick(BLANK),
        input: `${item.sentence}\nOption 1: ${item.option1}\nOption 2: ${item.option2}`,
        output: item.answer === '1' ? item.option1 : item.option2,
      });
    }
  }
  return rows;
}
