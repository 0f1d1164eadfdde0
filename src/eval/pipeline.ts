/**
 * The evaluation pipeline, the one path from a checkpoint to a task's scores that the CLI's
 * `eval`, the campaign's evaluation activity, the world's calibration and the benchmarks share:
 *
 *   task data (read and checked) -> checkpoint -> sub-network (checked) -> tokenizer
 *     -> prepared task (cached per process) -> backend.openSubnet -> score -> metrics (TaskResult)
 */
import { statSync } from 'node:fs';
import { openCheckpoint, type Checkpoint } from '../model/checkpoint';
import { canonicalSubnet, fullSubnet } from '../model/subnet';
import { loadTokenizer } from '../model/tokenizer';
import type { SequenceScorer, SubnetSpec, TextTokenizer } from '../model/types';
import type { ScoringBackend } from './backend';
import { aggregate, itemResults } from './metrics';
import { prepareTask, type EvalSettings, type PreparedTask } from './prepare';
import type { TaskResult } from './report';
import { scoreTask, type ScoreOptions, type ScoringPath } from './score';
import { loadTask } from './tasks';
import type { LoadedTask, TaskName } from './types';

/** A task to evaluate: its data and the settings its prompts are built with. */
export interface EvaluationTask extends EvalSettings {
  name: TaskName;
  /** A data file or folder (read with loadTask), or documents already loaded (benchmarks, the world's variants). */
  data: string | LoadedTask;
}

export type EvaluationStage = 'preparing' | 'scoring';

export interface EvaluateSubnetOptions {
  backend: ScoringBackend;
  /** Weight quantization of the decoder linear layers (src/model/quantize.ts QUANT_MODES; default 'none'). */
  quant?: string;
  /** 'shared' (default), 'fast' or 'naive' (one request per model call, the reference): src/eval/score.ts. */
  path?: ScoringPath;
  /** Stops between model calls. */
  signal?: AbortSignal;
  /** Tokenizing the prompts (once per task and process), then scoring them. */
  onProgress?: (stage: EvaluationStage, done: number, total: number) => void;
  /** Runs on the opened scorer before the task is scored (the throughput objective's measurement). */
  beforeScoring?: (scorer: SequenceScorer) => Promise<void>;
}

export interface SubnetEvaluation {
  result: TaskResult;
  checkpoint: Checkpoint;
  /** The sub-network as evaluated: checked against the checkpoint, one width per active layer. */
  subnet: SubnetSpec;
}

/**
 * Evaluates a sub-network of the checkpoint in `modelDir` on a task; `subnet` defaults to the
 * full network and is checked against the checkpoint (`subnetSource` names it in errors).
 */
export async function evaluateSubnet(
  request: { modelDir: string; subnet?: SubnetSpec; subnetSource?: string; task: EvaluationTask },
  opts: EvaluateSubnetOptions,
): Promise<SubnetEvaluation> {
  const { name: _name, data: _data, ...settings } = request.task;
  const loaded = loadedTaskOf(request.task); // the user's data is checked before the model is read
  const checkpoint = await openCheckpoint(request.modelDir);
  const subnet = request.subnet
    ? canonicalSubnet(request.subnet, checkpoint.config, request.subnetSource)
    : fullSubnet(checkpoint.config);
  const prepared = await preparedTaskOf(
    request.modelDir,
    checkpoint.identity,
    loaded,
    settings,
    (done, total) => opts.onProgress?.('preparing', done, total),
  );
  opts.signal?.throwIfAborted();
  const scorer = await opts.backend.openSubnet(request.modelDir, subnet, {
    quant: opts.quant,
    signal: opts.signal,
  });
  try {
    await opts.beforeScoring?.(scorer);
    const result = await evaluatePrepared(prepared, scorer, {
      path: opts.path,
      signal: opts.signal,
      onProgress: (done, total) => opts.onProgress?.('scoring', done, total),
    });
    return { result, checkpoint, subnet };
  } finally {
    await scorer.close();
  }
}

/** Scores a prepared task with one scorer and computes its metrics. */
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

// Kept for the life of the process: a search evaluates hundreds of sub-networks on the same
// task, so each data file is read once, and each checkpoint's tokenizer and each task's prompts
// are built once.
const loadedTasks = new Map<string, { task: LoadedTask; stamp: string | undefined }>();
const tokenizers = new Map<string, Promise<TextTokenizer>>();
const preparedTasks = new WeakMap<LoadedTask, Map<string, Promise<PreparedTask>>>();

function memo<T>(cache: Map<string, Promise<T>>, id: string, make: () => Promise<T>): Promise<T> {
  let value = cache.get(id);
  if (!value) {
    value = make();
    cache.set(id, value);
    value.catch(() => cache.delete(id));
  }
  return value;
}

/** What names the content of the files a task was read from: their sizes and modification times. */
function filesStamp(task: LoadedTask): string | undefined {
  try {
    return [...task.files.eval, ...task.files.fewshot]
      .map((f) => {
        const st = statSync(f);
        return `${f}:${st.size}:${st.mtimeMs}`;
      })
      .join('\n');
  } catch {
    return undefined; // a file went away: read the task again
  }
}

/** The task's documents, read and checked (EvalDataError names file and line); read again once a file changed. */
function loadedTaskOf(task: EvaluationTask): LoadedTask {
  const { name, data } = task;
  if (typeof data !== 'string') return data;
  const fewshot = (task.shots ?? 0) > 0;
  const id = JSON.stringify([name, data, fewshot]);
  const kept = loadedTasks.get(id);
  if (kept?.stamp !== undefined && kept.stamp === filesStamp(kept.task)) return kept.task;
  const loaded = loadTask(name, data, { fewshot });
  loadedTasks.set(id, { task: loaded, stamp: filesStamp(loaded) });
  return loaded;
}

function preparedTaskOf(
  modelDir: string,
  identity: string,
  loaded: LoadedTask,
  settings: EvalSettings,
  onProgress: (done: number, total: number) => void,
): Promise<PreparedTask> {
  let byTask = preparedTasks.get(loaded);
  if (!byTask) preparedTasks.set(loaded, (byTask = new Map()));
  return memo(byTask, JSON.stringify([modelDir, identity, settings]), async () => {
    const tokenizer = await memo(tokenizers, JSON.stringify([modelDir, identity]), () =>
      loadTokenizer(modelDir),
    );
    return prepareTask(loaded, tokenizer, settings, onProgress);
  });
}
