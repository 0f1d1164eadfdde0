/**
 * Task evaluation as lm-evaluation-harness scores it: ARC-Easy, ARC-Challenge, MMLU,
 * TruthfulQA MC1 and WinoGrande, from the user's data files.
 *
 *   const task = loadTask('arc_easy', '/data/ARC-V1-Feb2018-2', { fewshot: shots > 0 });
 *   const prepared = prepareTask(task, tokenizer, { shots });   // once
 *   for (const scorer of subnets) {
 *     const result = await evaluatePrepared(prepared, scorer, { onProgress });   // many times
 *   }
 */
import type { SequenceScorer, TextTokenizer } from '../model/types';
import { aggregate, itemResults } from './metrics';
import { prepareTask, type EvalSettings, type PreparedTask } from './prepare';
import type { TaskResult } from './report';
import { scoreTask, type ScoreOptions } from './score';
import type { LoadedTask } from './types';

export { loadTask, TASKS, isTaskName } from './tasks';
export {
  prepareTask,
  encodePair,
  selectDocs,
  resolveSettings,
  SettingsError,
  DEFAULT_FEWSHOT_SEED,
} from './prepare';
export type { EvalSettings, PreparedTask, PreparedItem, ResolvedSettings } from './prepare';
export { scoreTask } from './score';
export type { ScoreOptions, ScoringPath, ScoringStats, TaskScores } from './score';
export { buildReport, perItemLines, writeFileAtomic, HARNESS_REFERENCE } from './report';
export type { EvalIdentity, EvalReport, TaskResult, RunSettings, SubnetIdentity } from './report';
export type { ItemResult, MetricValues } from './metrics';
export { EvalDataError } from './errors';
export { TASK_NAMES } from './types';
export type { TaskName, LoadedTask, McDoc } from './types';

/** Scores a prepared task with one sub-network and computes its metrics. */
export async function evaluatePrepared(
  prepared: PreparedTask,
  scorer: SequenceScorer,
  opts: ScoreOptions = {},
): Promise<TaskResult> {
  const scores = await scoreTask(prepared, scorer, opts);
  const items = itemResults(prepared, scores.loglikelihoods);
  const { results, groupSubtasks } = aggregate(prepared, items);
  return {
    task: prepared.name,
    results,
    groupSubtasks,
    numDocs: prepared.numDocs,
    nSamples: items.length,
    files: prepared.files,
    settings: { ...prepared.settings, maxLength: scorer.maxLength, scoringPath: scores.stats.path },
    items,
    stats: scores.stats,
  };
}

/** Prepare and score in one call (for a single evaluation; prefer prepareTask + evaluatePrepared when repeating). */
export async function evaluateTask(
  task: LoadedTask,
  tokenizer: TextTokenizer,
  scorer: SequenceScorer,
  settings: EvalSettings = {},
  onProgress?: (done: number, total: number) => void,
  opts: Omit<ScoreOptions, 'onProgress'> = {},
): Promise<TaskResult> {
  const prepared = prepareTask(task, tokenizer, settings);
  return evaluatePrepared(prepared, scorer, { ...opts, onProgress });
}
