// Prompt texts the evaluator and the trainer wrap around the data (lm-evaluation-harness and
// Alpaca conventions). The corpus uses the same shapes so that a model trained on the world has
// seen them, and the tokenizer's vocabulary must cover their words.

import { mmluText } from '../eval/loaders/mmlu';
import { TRUTHFULQA_PRIMER } from '../eval/loaders/truthfulqa';

// The evaluator's own prompt texts, so the corpus shows exactly what the harness will ask.
export { TRUTHFULQA_PRIMER, mmluText };

export const ALPACA_PROMPT_WITH_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
  'Write a response that appropriately completes the request.\n\n' +
  '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n';

export const ALPACA_PROMPT_NO_INPUT =
  'Below is an instruction that describes a task. ' +
  'Write a response that appropriately completes the request.\n\n' +
  '### Instruction:\n{instruction}\n\n### Response:\n';

export function mmluDescription(subject: string): string {
  return `The following are multiple choice questions (with answers) about ${subject.replace(/_/g, ' ')}.\n\n`;
}

export function arcText(question: string): string {
  return `Question: ${question}\nAnswer:`;
}

export function truthfulqaText(question: string): string {
  return `Q: ${question}\nA:`;
}

/** Texts whose words the vocabulary must contain even though no data file holds them. */
export const PROMPT_TEXTS: readonly string[] = [
  TRUTHFULQA_PRIMER,
  ALPACA_PROMPT_WITH_INPUT,
  ALPACA_PROMPT_NO_INPUT,
  mmluDescription('x'),
  arcText('x'),
  mmluText('x', ['a', 'b', 'c', 'd']),
  'A. B. C. D. E. 1. 2. 3. 4. 5.',
];
