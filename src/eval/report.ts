import type { SubnetSpec } from '../model/types';
import type { ItemResult, MetricValues } from './metrics';
import type { ResolvedSettings } from './prepare';
import { FEWSHOT_DELIMITER, TARGET_DELIMITER } from './prompts';
import type { ScoringPath, ScoringStats } from './score';
import { TASKS } from './tasks';
import type { TaskName } from './types';

/** The harness version whose prompts and scoring these results reproduce. */
export const HARNESS_REFERENCE = 'lm-evaluation-harness v0.4.x (prompts and splits as of v0.4.9.1)';

export interface RunSettings extends ResolvedSettings {
  maxLength: number;
  scoringPath: ScoringPath;
}

/** Everything one task's evaluation produced. */
export interface TaskResult {
  task: TaskName;
  /** The task, and for MMLU its categories and subjects, keyed as in the harness's results. */
  results: Record<string, MetricValues>;
  groupSubtasks: Record<string, string[]>;
  /** Documents in the evaluation split, before --limit / --fraction. */
  numDocs: number;
  /** Documents evaluated. */
  nSamples: number;
  files: { eval: string[]; fewshot: string[] };
  settings: RunSettings;
  items: ItemResult[];
  stats: ScoringStats;
}

/** Who was evaluated: the model (directory, name, checkpoint identity) and the sub-network, if any. */
export interface EvalIdentity {
  model: Record<string, unknown>;
  subnet?: SubnetIdentity | null;
}

/** A sub-network as evaluated, with its content hash where known. */
export type SubnetIdentity = SubnetSpec & { hash?: string };

type Metrics = Omit<MetricValues, 'samples'>;

export interface EvalReport {
  results: Record<string, Metrics>;
  group_subtasks: Record<string, string[]>;
  configs: Record<string, Record<string, unknown>>;
  versions: Record<string, number>;
  n_shot: Record<string, number>;
  n_samples: Record<string, number>;
  higher_is_better: Record<string, Record<string, boolean>>;
  settings?: Record<string, unknown>;
  model: Record<string, unknown>;
  subnet: SubnetIdentity | null;
  harness_reference: string;
  date: string;
}

function settingsRecord(s: RunSettings): Record<string, unknown> {
  return {
    num_fewshot: s.shots,
    limit: s.limit,
    fraction: s.fraction,
    sample_seed: s.sampleSeed,
    fewshot_seed: s.fewshotSeed,
    fewshot_draw: s.fewshotDraw,
    bos: s.bos,
    max_length: s.maxLength,
    scoring_path: s.scoringPath,
  };
}

/** Results of one or more tasks in the shape harness users know (results, configs, n-shot, n-samples). */
export function buildReport(tasks: TaskResult[], identity: EvalIdentity, date = new Date()): EvalReport {
  const report: EvalReport = {
    results: {},
    group_subtasks: {},
    configs: {},
    versions: {},
    n_shot: {},
    n_samples: {},
    higher_is_better: {},
    model: identity.model,
    subnet: identity.subnet ?? null,
    harness_reference: HARNESS_REFERENCE,
    date: date.toISOString(),
  };
  for (const t of tasks) {
    const definition = TASKS[t.task];
    for (const [key, { samples, ...metrics }] of Object.entries(t.results)) {
      report.results[key] = metrics;
      report.n_samples[key] = samples;
      report.n_shot[key] = t.settings.shots;
      report.higher_is_better[key] = Object.fromEntries(
        definition.metrics.filter((m) => m in metrics).map((m) => [m, true]),
      );
    }
    Object.assign(report.group_subtasks, t.groupSubtasks);
    report.versions[t.task] = definition.version;
    report.configs[t.task] = {
      task: t.task,
      eval_split: definition.evalSplit,
      fewshot_split: definition.fewshotSplit,
      num_docs: t.numDocs,
      data_files: t.files,
      target_delimiter: TARGET_DELIMITER,
      fewshot_delimiter: FEWSHOT_DELIMITER,
      metric_list: definition.metrics.map((metric) => ({
        metric,
        aggregation: 'mean',
        higher_is_better: true,
      })),
      ...settingsRecord(t.settings),
    };
  }
  const all = tasks.map((t) => JSON.stringify(settingsRecord(t.settings)));
  if (tasks.length > 0 && all.every((s) => s === all[0]))
    report.settings = settingsRecord(tasks[0]!.settings);
  return report;
}

export { writeFileAtomic } from '../fsutil';

/** Per-item scores as JSON lines (one question a line), tagged with the task. */
export function perItemLines(tasks: TaskResult[]): string {
  return (
    tasks.flatMap((t) => t.items.map((item) => JSON.stringify({ task: t.task, ...item }))).join('\n') + '\n'
  );
}
