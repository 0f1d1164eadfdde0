import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskName } from '../../src/eval';

/**
 * A few dozen rows per task for the real model, written in each benchmark's original format
 * (ARC JSON lines, MMLU CSV, TruthfulQA mc_task.json, WinoGrande dev.jsonl): capitals of
 * well-known countries, which any pre-trained model knows.
 */
export const FACTS: [string, string][] = [
  ['France', 'Paris'],
  ['Japan', 'Tokyo'],
  ['Italy', 'Rome'],
  ['Germany', 'Berlin'],
  ['Spain', 'Madrid'],
  ['England', 'London'],
  ['Russia', 'Moscow'],
  ['Egypt', 'Cairo'],
  ['China', 'Beijing'],
  ['Greece', 'Athens'],
  ['Portugal', 'Lisbon'],
  ['Ireland', 'Dublin'],
  ['Austria', 'Vienna'],
  ['Norway', 'Oslo'],
  ['Sweden', 'Stockholm'],
  ['Poland', 'Warsaw'],
  ['Hungary', 'Budapest'],
  ['Thailand', 'Bangkok'],
  ['Kenya', 'Nairobi'],
  ['Argentina', 'Buenos Aires'],
  ['Peru', 'Lima'],
  ['Cuba', 'Havana'],
  ['Denmark', 'Copenhagen'],
  ['Finland', 'Helsinki'],
];
const LETTERS = ['A', 'B', 'C', 'D'];

/** Three wrong capitals for fact i and the position of the right one, fixed per i. */
function choicesFor(i: number): { options: string[]; answer: number } {
  const wrong = [1, 7, 13].map((d) => FACTS[(i + d) % FACTS.length]![1]);
  const answer = i % 4;
  const options = [...wrong];
  options.splice(answer, 0, FACTS[i]![1]);
  return { options, answer };
}

export function writeTaskData(root: string): Record<TaskName, string> {
  const arc = (name: string, stem: (c: string) => string): string => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const lines = FACTS.map(([country], i) => {
      const { options, answer } = choicesFor(i);
      return JSON.stringify({
        id: `${name}-${i}`,
        question: { stem: stem(country), choices: options.map((text, k) => ({ text, label: LETTERS[k] })) },
        answerKey: LETTERS[answer],
      });
    });
    writeFileSync(join(dir, 'test.jsonl'), `${lines.join('\n')}\n`);
    return dir;
  };
  const mmlu = join(root, 'mmlu', 'data', 'test');
  mkdirSync(mmlu, { recursive: true });
  writeFileSync(
    join(mmlu, 'high_school_geography_test.csv'),
    FACTS.map(([country], i) => {
      const { options, answer } = choicesFor(i);
      return [`What is the capital city of ${country}?`, ...options, LETTERS[answer]]
        .map((f) => `"${f}"`)
        .join(',');
    }).join('\n') + '\n',
  );
  const tqa = join(root, 'truthfulqa');
  mkdirSync(tqa, { recursive: true });
  writeFileSync(
    join(tqa, 'mc_task.json'),
    JSON.stringify(
      FACTS.map(([country], i) => {
        const { options, answer } = choicesFor(i);
        const ordered = [options[answer]!, ...options.filter((_, k) => k !== answer)];
        const targets = Object.fromEntries(
          ordered.map((o, k) => [`The capital of ${country} is ${o}.`, k === 0 ? 1 : 0]),
        );
        return { question: `What is the capital of ${country}?`, mc1_targets: targets, mc2_targets: targets };
      }),
      null,
      2,
    ),
  );
  const wino = join(root, 'winogrande');
  mkdirSync(wino, { recursive: true });
  writeFileSync(
    join(wino, 'dev.jsonl'),
    FACTS.map(([country, capital], i) => {
      const other = FACTS[(i + 5) % FACTS.length]![0];
      const first = i % 2 === 0;
      return JSON.stringify({
        qID: `wg-${i}`,
        sentence: `She flew to ${capital} because _ was the country she wanted to see.`,
        option1: first ? country : other,
        option2: first ? other : country,
        answer: first ? '1' : '2',
      });
    }).join('\n') + '\n',
  );
  return {
    arc_easy: arc('ARC-Easy', (c) => `What is the capital of ${c}?`),
    arc_challenge: arc('ARC-Challenge', (c) => `Which city is the seat of the government of ${c}?`),
    mmlu: join(root, 'mmlu', 'data'),
    truthfulqa_mc1: tqa,
    winogrande: wino,
  };
}
