/**
 * Task evaluation as lm-evaluation-harness scores it: ARC-Easy, ARC-Challenge, MMLU,
 * TruthfulQA MC1 and WinoGrande, from the user's data files.
 *
 *   const { result } = await evaluateSubnet(
 *     { modelDir, subnet, task: { name: 'mmlu', data: '/data/mmlu', shots: 5 } },
 *     { backend: onnxBackend(), onProgress, signal },
 *   );
 *   result.results.mmlu.acc;
 */
export { evaluateSubnet, evaluatePrepared } from './pipeline';
export type { EvaluateSubnetOptions, EvaluationStage, EvaluationTask, SubnetEvaluation } from './pipeline';
export { keepSessionsOpen, onnxBackend } from './backend';
export type { OnnxBackendOptions, ScoringBackend } from './backend';
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
