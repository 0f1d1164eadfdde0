import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Context, activityInfo } from '@temporalio/activity';
import { ConfigError, parseCampaignConfig, type TaskName } from '../config/campaign';
import { analyseCampaign, writeReport } from '../src/analysis';
import { buildCampaignResults, suggestHeuristicSubnets } from '../src/campaign/results';
import { ensureEmbeddedWorld } from '../src/world/embedded';
import { evaluatePrepared, loadTask, prepareTask, type PreparedTask as EvalPreparedTask } from '../src/eval';
import { EvaluationCache, canonicalJson, createSpace, parseSubnetKey, subnetKey } from '../src/search';
import { createSearch, isDone, loadState, progress, propose, record, setBudget } from '../src/search/linas';
import { loadLlamaConfig } from '../src/model/config';
import { openCheckpoint } from '../src/model/checkpoint';
import { openSubnet } from '../src/model/runtime';
import { canonicalSubnet } from '../src/model/subnet';
import { quantizedModelSize } from '../src/model/size';
import { measureThroughput } from '../src/model/throughput';
import { loadTokenizer } from '../src/model/tokenizer';
import type { TextTokenizer } from '../src/model/types';
import { writeJsonAtomic } from '../src/fsutil';
import { stateDir } from '../src/toolchain';
import { parseTrainConfig, TrainConfigError } from '../src/trainer';
import { classified, injectedFailure } from './failures';
import { trainModel } from './train';
import type {
  EvaluationRequest,
  EvaluationResult,
  PreparedCampaign,
  PreparedTask,
  Proposal,
  ProposeRequest,
  RecordRequest,
  SearchProgress,
} from './types';

/** The default elastic space of a base model: {0.75, 0.875, 1} x layers, {1/2, 1} x MLP width. */
export function defaultSpace(numLayers: number, intermediate: number): PreparedCampaign['space'] {
  const layers = [...new Set([Math.round(numLayers * 0.75), Math.round(numLayers * 0.875), numLayers])];
  return { layerCounts: layers, widths: [Math.floor(intermediate / 2), intermediate] };
}

/** A space must fit the base model: no more layers, no wider MLPs than it has. */
function checkSpace(
  space: PreparedCampaign['space'],
  base: { numLayers: number; intermediateSize: number },
  field: string,
): void {
  createSpace(space);
  const layers = Math.max(...space.layerCounts);
  if (layers > base.numLayers) {
    throw new ConfigError(
      `campaign config: field ${field}: ${layers} layers, but the base model has ${base.numLayers}`,
    );
  }
  const widest = Math.max(...space.widths.flat());
  if (widest > base.intermediateSize) {
    throw new ConfigError(
      `campaign config: field ${field}: MLP width ${widest}, but the base model's is ${base.intermediateSize}`,
    );
  }
}

/** Checks every input of a campaign before anything runs: config, checkpoint, data files. */
export async function prepareCampaign(raw: unknown): Promise<PreparedCampaign> {
  return classified(async () => {
    const config = parseCampaignConfig(raw, 'campaign config');
    const home = stateDir();
    let baseModelDir = config.baseModel;
    let instructionData = config.finetune.data;
    let taskData: Partial<Record<TaskName, string>> = {};
    let worldSpace: PreparedCampaign['space'] | undefined;
    let trainerDefaults: Record<string, unknown> = {};
    if (config.baseModel === 'embedded') {
      const world = await ensureEmbeddedWorld({
        seed: config.worldSeed,
        scale: config.worldScale,
        onProgress: (p) => Context.current().heartbeat(p),
        signal: Context.current().cancellationSignal,
      });
      baseModelDir = world.baseModelDir;
      instructionData ??= world.instructionData;
      taskData = world.tasks;
      worldSpace = world.searchSpace;
      const { description: _description, ...instatune } = world.configs.instatune as Record<string, unknown>;
      trainerDefaults = instatune;
    }
    await openCheckpoint(baseModelDir); // a bad checkpoint fails here, naming the file and tensor
    const base = loadLlamaConfig(baseModelDir);
    const tasks: PreparedTask[] = config.tasks.map((t) => {
      const dataPath = t.data ?? taskData[t.name];
      if (!dataPath) throw new ConfigError(`campaign config: field tasks: no data for ${t.name}`);
      loadTask(t.name, dataPath, { fewshot: (t.shots ?? 0) > 0 }); // a bad row fails here, naming file and line
      return { name: t.name, dataPath, shots: t.shots, limit: t.limit, fraction: t.fraction };
    });
    if (!config.finetune.skip && !config.finetune.superNetwork && !instructionData) {
      throw new ConfigError('campaign config: field finetune.data: instruction data is needed to fine-tune');
    }
    const campaignDir = config.outDir ?? join(home, 'campaigns', config.name);
    mkdirSync(campaignDir, { recursive: true });
    const prepared: PreparedCampaign = {
      config,
      campaignDir,
      baseModelDir,
      instructionData,
      tasks,
      space: config.searchSpace ?? worldSpace ?? defaultSpace(base.numLayers, base.intermediateSize),
      trainerDefaults,
      cacheDir: join(home, 'cache', 'evaluations'),
      baseModelName:
        config.baseModel === 'embedded' ? `embedded-world-${config.worldSeed}` : basename(baseModelDir),
    };
    checkSpace(prepared.space, base, config.searchSpace ? 'searchSpace' : "the base model's default space");
    if (!config.finetune.skip && !config.finetune.superNetwork) instatuneConfig(prepared);
    writeJsonAtomic(join(campaignDir, 'campaign.json'), prepared);
    return prepared;
  });
}

/** The trainer config of the campaign's InstaTune stage, validated (errors name finetune.trainer). */
export function instatuneConfig(campaign: PreparedCampaign): Record<string, unknown> {
  const w = campaign.space.widths;
  const widths =
    typeof w[0] === 'number' ? (w as number[]) : [...new Set((w as number[][]).flat())].sort((a, b) => a - b);
  const config = {
    ...campaign.trainerDefaults,
    ...campaign.config.finetune.trainer,
    model: campaign.baseModelDir,
    data: { path: campaign.instructionData, format: 'alpaca' },
    search_space: { layers: campaign.space.layerCounts, intermediate: widths },
  };
  try {
    parseTrainConfig(config, 'campaign config field finetune.trainer', 'instatune');
  } catch (err) {
    if (err instanceof TrainConfigError) throw new ConfigError(err.message);
    throw err;
  }
  return config;
}

/**
 * InstaTune: fine-tunes the base model so that its sub-networks work too, or returns the
 * super-network the campaign reuses. The output folder is named by the content of what goes
 * in (base checkpoint, data, hyper-parameters, space), so a rerun reuses a finished run and a
 * retry resumes from its newest checkpoint.
 */
export async function instatuneSuperNetwork(campaign: PreparedCampaign): Promise<string> {
  return classified(async () => {
    const { config } = campaign;
    if (config.finetune.superNetwork) {
      await openCheckpoint(config.finetune.superNetwork);
      return config.finetune.superNetwork;
    }
    if (config.finetune.skip) return campaign.baseModelDir;
    const info = activityInfo();
    const fault = injectedFailure(
      config.faultInjection,
      `${info.workflowExecution?.workflowId}/${info.activityId}/${info.attempt}`,
    );
    if (fault) throw fault;
    const base = await openCheckpoint(campaign.baseModelDir);
    const trainConfig = instatuneConfig(campaign);
    const id = createHash('sha256')
      .update(JSON.stringify([base.identity, trainConfig]))
      .digest('hex')
      .slice(0, 16);
    const out = join(stateDir(), 'supernets', id);
    const result = await trainModel({ mode: 'instatune', config: trainConfig, out });
    return result.out;
  });
}

/** What a search's proposals depend on; a search with other inputs gets a folder of its own. */
async function searchIdentity(
  campaign: PreparedCampaign,
  task: PreparedTask,
  modelDir: string,
): Promise<string> {
  const { identity } = await openCheckpoint(modelDir);
  const { config } = campaign;
  return hashOf({
    checkpoint: identity,
    task,
    space: campaign.space,
    linas: config.linas,
    objectives: config.objectives,
    constraints: config.constraints,
    evaluation: config.evaluation,
  });
}

function searchRunDir(searchDir: string, identity: string): string {
  return join(searchDir, identity);
}

function stateFileName(searchDir: string, loop: number, phase: 'proposed' | 'recorded'): string {
  return join(searchDir, `state-${String(loop).padStart(3, '0')}-${phase}.json`);
}

function readState(file: string) {
  return loadState(JSON.parse(readFileSync(file, 'utf8')), file);
}

/** The next batch of the LINAS loop. Idempotent: a retry finds the state file it wrote. */
export async function searchPropose(req: ProposeRequest): Promise<Proposal> {
  return classified(async () => {
    const runDir = req.stateFile
      ? dirname(req.stateFile)
      : searchRunDir(req.searchDir, await searchIdentity(req.campaign, req.evaluation, req.modelDir));
    mkdirSync(runDir, { recursive: true });
    let state = req.stateFile
      ? readState(req.stateFile)
      : createSearch({
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
    if (state.options.budget !== req.budget) state = setBudget(state, req.budget);
    const file = stateFileName(runDir, state.loop + 1, 'proposed');
    if (existsSync(file)) {
      const saved = readState(file);
      return { stateFile: file, done: false, loop: saved.loop, candidates: pendingCandidates(saved) };
    }
    if (isDone(state))
      return { stateFile: req.stateFile ?? '', done: true, loop: state.loop, candidates: [] };
    const step = propose(state);
    if (!step.candidates.length)
      return { stateFile: req.stateFile ?? '', done: true, loop: state.loop, candidates: [] };
    writeJsonAtomic(file, step.state);
    return {
      stateFile: file,
      done: false,
      loop: step.state.loop,
      candidates: step.candidates.map((c) => ({ key: c.key, subnet: c.subnet })),
    };
  });
}

function pendingCandidates(state: ReturnType<typeof readState>): Proposal['candidates'] {
  return state.pending.map((p) => ({ key: p.key, subnet: parseSubnetKey(p.key) }));
}

/** Records a loop's real evaluations. Idempotent: the recorded state is written once. */
export async function searchRecord(req: RecordRequest): Promise<SearchProgress> {
  return classified(async () => {
    const state = readState(req.stateFile);
    const file = stateFileName(dirname(req.stateFile), state.loop, 'recorded');
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
  });
}

function objectivesOf(r: EvaluationResult): Record<string, number> {
  return {
    accuracy: r.accuracy,
    size_gib: r.sizeBytes / 2 ** 30,
    ...(r.throughput !== undefined ? { throughput: r.throughput } : {}),
  };
}

// Evaluation state kept for the life of a worker process: a search evaluates hundreds of
// sub-networks on the same task, so tokenizers and prepared prompts are built once.
const tokenizers = new Map<string, Promise<TextTokenizer>>();
const preparedTasks = new Map<string, Promise<EvalPreparedTask>>();

function tokenizerOf(modelDir: string): Promise<TextTokenizer> {
  let t = tokenizers.get(modelDir);
  if (!t) tokenizers.set(modelDir, (t = loadTokenizer(modelDir)));
  return t;
}

async function preparedTaskOf(modelDir: string, task: PreparedTask, bos: boolean): Promise<EvalPreparedTask> {
  const id = JSON.stringify([modelDir, task, bos]);
  let p = preparedTasks.get(id);
  if (!p) {
    p = (async () => {
      const loaded = loadTask(task.name, task.dataPath, { fewshot: (task.shots ?? 0) > 0 });
      return prepareTask(loaded, await tokenizerOf(modelDir), {
        shots: task.shots,
        limit: task.limit,
        fraction: task.fraction,
        bos,
      });
    })();
    preparedTasks.set(id, p);
    p.catch(() => preparedTasks.delete(id));
  }
  return p;
}

/** What identifies a measurement: the checkpoint, the task and its settings, the quantization. */
function evaluationContext(
  checkpoint: string,
  task: PreparedTask,
  opts: { bos: boolean; sizeDtype: EvaluationRequest['sizeDtype']; quant: EvaluationRequest['quant'] },
) {
  return {
    task: task.name,
    settings: {
      checkpoint,
      shots: task.shots ?? null,
      limit: task.limit ?? null,
      fraction: task.fraction ?? null,
      bos: opts.bos,
      data: task.dataPath,
      sizeDtype: opts.sizeDtype,
    },
    quantization: opts.quant,
  };
}

function hashOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/**
 * One real evaluation of a sub-network on a task, or its cached result. Heartbeats its
 * progress; the result is cached before it is returned, so a retry or a rerun never pays twice.
 */
export async function evaluateSubnet(req: EvaluationRequest): Promise<EvaluationResult> {
  return classified(async () => {
    const info = activityInfo();
    const fault = injectedFailure(
      req.faultInjection,
      `${info.workflowExecution?.workflowId}/${info.activityId}/${info.attempt}`,
    );
    if (fault) throw fault;
    const ckpt = await openCheckpoint(req.modelDir);
    const subnet = canonicalSubnet(req.subnet, ckpt.config);
    const key = subnetKey(subnet);
    const cache = new EvaluationCache(req.cacheDir);
    const context = evaluationContext(ckpt.identity, req.task, req);
    const hit = cache.get(context, key);
    if (hit && (!req.measureThroughput || hit.values.throughput !== undefined))
      return finish(req.campaignDir, context, resultFrom(key, req, subnet, hit.values, true));

    const session = await openSubnet(req.modelDir, subnet, { threads: req.threads, quant: req.quant });
    let result;
    let throughput: number | undefined;
    try {
      // the throughput objective: src/model/throughput.ts's protocol on the opened session
      if (req.measureThroughput) throughput = (await measureThroughput(session)).tokensPerSecond;
      if (hit) {
        const values = { ...hit.values, throughput: throughput! };
        cache.put(context, key, values, { ...hit.details, throughputHost: require('node:os').hostname() });
        return finish(req.campaignDir, context, resultFrom(key, req, subnet, values, true));
      }
      const prepared = await preparedTaskOf(req.modelDir, req.task, req.bos);
      const signal = Context.current().cancellationSignal;
      result = await evaluatePrepared(prepared, session, {
        signal,
        onProgress: (done, total) => Context.current().heartbeat({ done, total }),
      });
    } finally {
      await session.close();
    }
    const metrics = result.results[req.task.name]!;
    const size = quantizedModelSize(ckpt.config, subnet, req.sizeDtype, req.quant);
    const values: Record<string, number> = {
      accuracy: metrics.acc,
      accuracyStderr: metrics.acc_stderr ?? 0,
      ...(metrics.acc_norm !== undefined ? { accuracyNorm: metrics.acc_norm } : {}),
      nSamples: result.nSamples,
      parameters: size.parameters,
      sizeBytes: size.bytes,
      ...(throughput !== undefined ? { throughput } : {}),
    };
    cache.put(context, key, values, { seconds: result.stats.seconds, host: require('node:os').hostname() });
    appendFileSync(
      join(req.campaignDir, 'computed.jsonl'),
      `${JSON.stringify({ key, task: req.task.name, quant: req.quant, at: new Date().toISOString() })}\n`,
    );
    return finish(req.campaignDir, context, resultFrom(key, req, subnet, values, false));
  });
}

function resultFrom(
  key: string,
  req: EvaluationRequest,
  subnet: EvaluationResult['subnet'],
  v: Record<string, number>,
  cached: boolean,
): EvaluationResult {
  return {
    key,
    task: req.task.name,
    quant: req.quant,
    subnet,
    accuracy: v.accuracy!,
    accuracyStderr: v.accuracyStderr ?? 0,
    ...(v.accuracyNorm !== undefined ? { accuracyNorm: v.accuracyNorm } : {}),
    nSamples: v.nSamples ?? 0,
    parameters: v.parameters!,
    sizeBytes: v.sizeBytes!,
    ...(v.throughput !== undefined ? { throughput: v.throughput } : {}),
    cached,
  };
}

/**
 * Every evaluation the campaign used is also kept in the campaign's folder, for its report,
 * grouped by its context: a rerun with another checkpoint or other settings never mixes in.
 */
function finish(campaignDir: string, context: object, result: EvaluationResult): EvaluationResult {
  const dir = join(campaignDir, 'evaluations', hashOf(context));
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'context.json'))) writeJsonAtomic(join(dir, 'context.json'), context);
  writeJsonAtomic(join(dir, `${result.key.replace(/[^A-Za-z0-9._-]/g, '_')}.json`), result);
  return result;
}

/** The campaign's evaluations of the super-network in `superNetwork`, float and quantized, with its settings. */
async function campaignEvaluations(
  campaign: PreparedCampaign,
  superNetwork: string,
): Promise<EvaluationResult[]> {
  const { identity } = await openCheckpoint(superNetwork);
  const { evaluation } = campaign.config;
  const out: EvaluationResult[] = [];
  for (const task of campaign.tasks) {
    for (const quant of ['none', ...campaign.config.quantization] as const) {
      const dir = join(
        campaign.campaignDir,
        'evaluations',
        hashOf(evaluationContext(identity, task, { ...evaluation, quant })),
      );
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)
        .filter((n) => n.endsWith('.json') && n !== 'context.json')
        .sort()) {
        out.push(JSON.parse(readFileSync(join(dir, f), 'utf8')) as EvaluationResult);
      }
    }
  }
  return out;
}

/** The heuristic architectures of the width analysis, one per task, to be evaluated as confirmation. */
export async function suggestHeuristics(req: {
  campaign: PreparedCampaign;
  superNetwork: string;
}): Promise<{ task: TaskName; subnet: EvaluationResult['subnet'] }[]> {
  return classified(async () => {
    const evaluations = await campaignEvaluations(req.campaign, req.superNetwork);
    return suggestHeuristicSubnets(
      evaluations,
      req.campaign.tasks.map((t) => t.name),
    );
  });
}

/** Writes results.json (every evaluation of the campaign) and the report next to it. */
export async function writeCampaignReport(req: {
  campaign: PreparedCampaign;
  superNetwork: string;
  heuristics: string[];
}): Promise<{ reportDir: string; resultsFile: string }> {
  return classified(async () => {
    const { campaign } = req;
    const loops: Record<string, Record<string, number>> = {};
    for (const task of campaign.tasks) {
      const dir = searchRunDir(
        `${campaign.campaignDir}/search/${task.name}`,
        await searchIdentity(campaign, task, req.superNetwork),
      );
      const last = existsSync(dir)
        ? readdirSync(dir)
            .filter((f) => /^state-\d+-recorded\.json$/.test(f))
            .sort()
            .pop()
        : undefined;
      if (last) {
        loops[task.name] = Object.fromEntries(
          readState(join(dir, last)).evaluations.map((e) => [e.key, e.loop]),
        );
      }
    }
    const evaluations = await campaignEvaluations(campaign, req.superNetwork);
    const results = buildCampaignResults(campaign, req.superNetwork, evaluations, req.heuristics, loops);
    const resultsFile = join(campaign.campaignDir, 'results.json');
    writeJsonAtomic(resultsFile, results);
    const reportDir = join(campaign.campaignDir, 'report');
    await writeReport(analyseCampaign(results), reportDir);
    return { reportDir, resultsFile };
  });
}
