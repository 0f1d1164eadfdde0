/** The five benchmark tasks, named as lm-evaluation-harness names them. */
export const TASK_NAMES = ['arc_easy', 'arc_challenge', 'mmlu', 'truthfulqa_mc1', 'winogrande'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export type MetricName = 'acc' | 'acc_norm';

/** Where a record came from, for error messages and per-item output. */
export interface SourceRef {
  file: string;
  /** 1-based line where the record starts. */
  line: number;
}

/**
 * One multiple-choice question, normalised from any supported file format into the fields the
 * harness's templates use (doc_to_text, doc_to_choice, doc_to_target).
 */
export interface McDoc {
  /** Stable identity for item-by-item comparison (the data set's id where it has one). */
  id: string;
  source: SourceRef;
  /** MMLU subject (file name stem or the export's `subject` field). */
  subject?: string;
  /** doc_to_text: the question as the prompt shows it. Empty for WinoGrande (partial evaluation). */
  text: string;
  /** doc_to_choice: ARC/TruthfulQA answer texts, MMLU letters, WinoGrande's two partial contexts. */
  choices: string[];
  /** Index of the correct choice. */
  gold: number;
  /** WinoGrande only: the shared continuation text (the sentence after the blank, stripped). */
  target?: string;
}

/** The documents of one task as read from the user's files. */
export interface LoadedTask {
  name: TaskName;
  /** The evaluation split, in file order (MMLU: subjects in alphabetical order, rows in file order). */
  docs: McDoc[];
  /** The few-shot split (ARC/WinoGrande: train; MMLU: dev); absent when not found or not needed. */
  fewshotDocs?: McDoc[];
  /** Files read, for the record. */
  files: { eval: string[]; fewshot: string[] };
}

export interface LoadOptions {
  /** Read the few-shot split too (needed when shots > 0). */
  fewshot: boolean;
}
