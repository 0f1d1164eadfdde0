/**
 * The evaluation pipeline, the one path from a checkpoint to a task's scores that the CLI's
 * `eval`, the campaign's evaluation activity, the world's calibration and the benchmarks share:
 *
 *   checkpoint -> sub-network (checked) -> tokenizer -> prepared task (cached per process)
 *     -> backend.openSubnet -> score -> metrics (TaskResult)
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
  /** 'fast' (default) or 'naive' (one request per model call, the reference). */
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
  const checkpoint = await openCheckpoint(request.modelDir);
  const subnet = request.subnet
    ? canonicalSubnet(request.subnet, checkpoint.config, request.subnetSource)
    : fullSubnet(checkpoint.config);
  const prepared = await preparedTaskOf(request.modelDir, checkpoint.identity, request.task, (done, total) =>
    opts.onProgress?.('preparing', done, total),
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
// task, so each checkpoint's tokenizer and each task's prompts are built once.
const tokenizers = new Map<string, Promise<TextTokenizer>>();
const preparedFromFiles = new Map<string, Promise<PreparedTask>>();
const preparedFromDocs = new WeakMap<LoadedTask, Map<string, Promise<PreparedTask>>>();

function memo<T>(cache: Map<string, Promise<T>>, id: string, make: () => Promise<T>): Promise<T> {
  let value = cache.get(id);
  if (!value) {
    value = make();
    cache.set(id, value);
    value.catch(() => cache.delete(id));
  }
  return value;
}

/** What names a data path's content for the cache: the path, its size and modification time. */
function dataStamp(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${path}:${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined; // loadTask says what is wrong with the path
  }
}

function preparedTaskOf(
  modelDir: string,
  identity: string,
  task: EvaluationTask,
  onProgress: (done: number, total: number) => void,
): Promise<PreparedTask> {
  const { name, data, ...settings } = task;
  const tokenizer = memo(tokenizers, JSON.stringify([modelDir, identity]), () => loadTokenizer(modelDir));
  const prepare = async (loaded: LoadedTask) => prepareTask(loaded, await tokenizer, settings, onProgress);
  const id = JSON.stringify([identity, name, settings]);
  if (typeof data !== 'string') {
    let byTask = preparedFromDocs.get(data);
    if (!byTask) preparedFromDocs.set(data, (byTask = new Map()));
    return memo(byTask, id, () => prepare(data));
  }
  const fromFiles = () => prepare(loadTask(name, data, { fewshot: (settings.shots ?? 0) > 0 }));
  const stamp = dataStamp(data);
  return stamp ? memo(preparedFromFiles, JSON.stringify([id, stamp]), fromFiles) : fromFiles();
}
