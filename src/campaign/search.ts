import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeJsonAtomic } from '../fsutil';
import { openCheckpoint } from '../model/checkpoint';
import { parseSubnetKey } from '../search';
import {
  createSearch,
  isDone,
  loadState,
  progress,
  propose,
  record,
  setBudget,
  type SearchState,
} from '../search/linas';
import { hashOf, lastRecordedState, searchRunDir, stateFile } from './layout';
import type {
  EvaluationResult,
  PreparedCampaign,
  PreparedTask,
  Proposal,
  ProposeRequest,
  RecordRequest,
  SearchProgress,
} from './types';

/**
 * The folder of a task's search of the sub-networks of `modelDir`, named by what its proposals
 * depend on: a search with other inputs gets a folder of its own.
 */
export async function searchFolder(
  campaign: PreparedCampaign,
  task: PreparedTask,
  modelDir: string,
): Promise<string> {
  const { identity } = await openCheckpoint(modelDir);
  const { config } = campaign;
  const searchIdentity = hashOf({
    checkpoint: identity,
    task,
    space: campaign.space,
    linas: config.linas,
    objectives: config.objectives,
    constraints: config.constraints,
    evaluation: config.evaluation,
  });
  return searchRunDir(campaign.campaignDir, task.name, searchIdentity);
}

function readState(file: string): SearchState {
  return loadState(JSON.parse(readFileSync(file, 'utf8')), file);
}

function newSearch(req: ProposeRequest): SearchState {
  return createSearch({
    space: req.space,
    objectives: [
      req.objectives[0] === 'size'
        ? { name: 'size_gib', direction: 'min' }
        : { name: 'throughput', direction: 'max' },
      { name: 'accuracy', direction: 'max' },
    ],
    constraints: req.maxSizeBytes ? [{ metric: 'size_gib', max: req.maxSizeBytes / 2 ** 30 }] : [],
    population: req.linas.population,
    budget: req.budget,
    seed: req.linas.seed,
    predictorEvaluations: req.linas.predictorEvaluations,
  });
}

/** The next batch of the LINAS loop. Idempotent: a retry finds the state file it wrote. */
export async function proposeStep(req: ProposeRequest): Promise<Proposal> {
  const runDir = req.stateFile
    ? dirname(req.stateFile)
    : await searchFolder(req.campaign, req.evaluation, req.modelDir);
  mkdirSync(runDir, { recursive: true });
  let state = req.stateFile ? readState(req.stateFile) : newSearch(req);
  if (state.options.budget !== req.budget) state = setBudget(state, req.budget);
  const file = stateFile(runDir, state.loop + 1, 'proposed');
  if (existsSync(file)) {
    const saved = readState(file);
    return {
      stateFile: file,
      done: false,
      loop: saved.loop,
      candidates: saved.pending.map((p) => ({ key: p.key, subnet: parseSubnetKey(p.key) })),
    };
  }
  const finished = { stateFile: req.stateFile ?? '', done: true, loop: state.loop, candidates: [] };
  if (isDone(state)) return finished;
  const step = propose(state);
  if (!step.candidates.length) return finished;
  writeJsonAtomic(file, step.state);
  return {
    stateFile: file,
    done: false,
    loop: step.state.loop,
    candidates: step.candidates.map((c) => ({ key: c.key, subnet: c.subnet })),
  };
}

/** Records a loop's real evaluations. Idempotent: the recorded state is written once. */
export async function recordStep(req: RecordRequest): Promise<SearchProgress> {
  const state = readState(req.stateFile);
  const file = stateFile(dirname(req.stateFile), state.loop, 'recorded');
  let next = existsSync(file) ? readState(file) : undefined;
  if (!next) {
    next = record(
      state,
      req.results.map((r) => ({ key: r.key, objectives: objectivesOf(r) })),
    );
    writeJsonAtomic(file, next);
  }
  const view = progress(next);
  return {
    stateFile: file,
    loop: view.loop,
    evaluated: view.evaluated,
    budget: view.budget,
    done: view.done,
    hypervolume: view.hypervolume ?? 0,
    front: view.front,
    predictorError: view.predictorError ?? undefined,
  };
}

function objectivesOf(r: EvaluationResult): Record<string, number> {
  return {
    accuracy: r.accuracy,
    size_gib: r.sizeBytes / 2 ** 30,
    ...(r.throughput !== undefined ? { throughput: r.throughput } : {}),
  };
}

/** Per task, the LINAS loop (1-based) that evaluated each sub-network key, from the newest recorded state. */
export async function searchLoops(
  campaign: PreparedCampaign,
  superNetwork: string,
): Promise<Record<string, Record<string, number>>> {
  const loops: Record<string, Record<string, number>> = {};
  for (const task of campaign.tasks) {
    const last = lastRecordedState(await searchFolder(campaign, task, superNetwork));
    if (last) loops[task.name] = Object.fromEntries(readState(last).evaluations.map((e) => [e.key, e.loop]));
  }
  return loops;
}
