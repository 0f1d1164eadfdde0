import { loadArc } from './loaders/arc';
import { loadMmlu } from './loaders/mmlu';
import { loadTruthfulqa } from './loaders/truthfulqa';
import { loadWinogrande } from './loaders/winogrande';
import {
  TASK_NAMES,
  type LoadedTask,
  type LoadOptions,
  type McDoc,
  type MetricName,
  type TaskName,
} from './types';

/** How each task is prompted and scored (lm-evaluation-harness v0.4.x task configs). */
export interface TaskDefinition {
  name: TaskName;
  evalSplit: 'test' | 'validation';
  fewshotSplit: 'train' | 'dev' | null;
  /** 'random': seeded draw (harness ContextSampler); 'first_n': first k rows (MMLU). */
  sampler: 'random' | 'first_n' | null;
  /**
   * The harness draws k+1 shots and drops the evaluated document when the few-shot split
   * "equals" the test split; WinoGrande configures neither, so None == None holds and it draws
   * k+1, keeping the first k. This changes which shots later documents get.
   */
  drawsExtraShot: boolean;
  /** WinoGrande: the choice is part of the context and the continuation is shared. */
  multipleInput: boolean;
  metrics: readonly MetricName[];
  description(doc: McDoc): string;
  /** Harness task config version, reported as the harness does. */
  version: number;
}

const noDescription = () => '';

const arc = (name: 'arc_easy' | 'arc_challenge'): TaskDefinition => ({
  name,
  evalSplit: 'test',
  fewshotSplit: 'train',
  sampler: 'random',
  drawsExtraShot: false,
  multipleInput: false,
  metrics: ['acc', 'acc_norm'],
  description: noDescription,
  version: 1,
});

export const TASKS: Record<TaskName, TaskDefinition> = {
  arc_easy: arc('arc_easy'),
  arc_challenge: arc('arc_challenge'),
  mmlu: {
    name: 'mmlu',
    evalSplit: 'test',
    fewshotSplit: 'dev',
    sampler: 'first_n',
    drawsExtraShot: false,
    multipleInput: false,
    metrics: ['acc'],
    description: (doc) =>
      `The following are multiple choice questions (with answers) about ${doc.subject!.replace(/_/g, ' ')}.\n\n`,
    version: 2,
  },
  truthfulqa_mc1: {
    name: 'truthfulqa_mc1',
    evalSplit: 'validation',
    fewshotSplit: null,
    sampler: null,
    drawsExtraShot: false,
    multipleInput: false,
    metrics: ['acc'],
    description: noDescription,
    version: 2,
  },
  winogrande: {
    name: 'winogrande',
    evalSplit: 'validation',
    fewshotSplit: 'train',
    sampler: 'random',
    drawsExtraShot: true,
    multipleInput: true,
    metrics: ['acc'],
    description: noDescription,
    version: 1,
  },
};

export function isTaskName(name: string): name is TaskName {
  return (TASK_NAMES as readonly string[]).includes(name);
}

/**
 * Reads and validates a task's data from the files at `dataPath` (see the loaders for the
 * layouts accepted). Every record is checked; problems throw an EvalDataError naming file and
 * line before anything is scored.
 */
export function loadTask(
  name: TaskName,
  dataPath: string,
  opts: LoadOptions = { fewshot: false },
): LoadedTask {
  switch (name) {
    case 'arc_easy':
    case 'arc_challenge':
      return loadArc(name, dataPath, opts);
    case 'mmlu':
      return loadMmlu(dataPath, opts);
    case 'truthfulqa_mc1':
      return loadTruthfulqa(dataPath);
    case 'winogrande':
      return loadWinogrande(dataPath, opts);
  }
}
