import { hostname } from 'node:os';
import { onnxBackend, type ScoringBackend } from '../eval/backend';
import { evaluateSubnet, type EvaluationStage } from '../eval/pipeline';
import { openCheckpoint } from '../model/checkpoint';
import { linearQuant, quantTag } from '../model/quantize';
import { quantizedModelSize } from '../model/size';
import { canonicalSubnet } from '../model/subnet';
import { measureThroughput } from '../model/throughput';
import type { SequenceScorer, SubnetSpec } from '../model/types';
import { sharedTorchBackend, TorchBackend, type TorchDtype, type TorchScorer } from '../eval/torch-backend';
import { EvaluationCache, subnetKey } from '../search';
import { logComputed, readEvaluations, writeEvaluation } from './layout';
import type { EvaluationRequest, EvaluationResult, PreparedCampaign, PreparedTask } from './types';

export interface ScoringSettings {
  threads?: number;
  backend?: 'onnx' | 'torch';
  device?: string;
  dtype?: TorchDtype;
}

const WORKER_SCORING_ENV = {
  backend: 'LLAMA_NAS_WORKER_BACKEND',
  device: 'LLAMA_NAS_WORKER_DEVICE',
  dtype: 'LLAMA_NAS_WORKER_DTYPE',
} as const;

/**
 * A worker's own scoring settings (`llama-nas worker --backend torch --device cuda:0`): they
 * override the campaign's for the evaluations this process runs. Give the campaign file the same
 * backend and dtype (`evaluation.backend/dtype`), so that its report finds every result: results
 * of other numerics are kept apart, never mixed. Kept in the environment, which the activity
 * threads this process starts inherit.
 */
export function setWorkerScoring(settings: Omit<ScoringSettings, 'threads'>): void {
  for (const [field, name] of Object.entries(WORKER_SCORING_ENV)) {
    const value = settings[field as keyof typeof WORKER_SCORING_ENV];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

function workerScoring(env: NodeJS.ProcessEnv = process.env): Omit<ScoringSettings, 'threads'> {
  const s: Omit<ScoringSettings, 'threads'> = {};
  const backend = env[WORKER_SCORING_ENV.backend];
  if (backend === 'onnx' || backend === 'torch') s.backend = backend;
  if (env[WORKER_SCORING_ENV.device]) s.device = env[WORKER_SCORING_ENV.device];
  if (env[WORKER_SCORING_ENV.dtype]) s.dtype = env[WORKER_SCORING_ENV.dtype] as TorchDtype;
  return s;
}

/** Which backend scores an evaluation with these settings on this worker. */
export function backendName(evaluation: ScoringSettings): 'onnx' | 'torch' {
  return ({ ...evaluation, ...workerScoring() }.backend ?? 'onnx') as 'onnx' | 'torch';
}

/**
 * The scoring backend of a campaign's evaluations: ONNX Runtime, or the process's shared PyTorch
 * backend (one scoring process per worker and settings: the super-network stays loaded for every
 * candidate the worker evaluates).
 */
export function campaignBackend(evaluation: ScoringSettings): ScoringBackend {
  const s = { ...evaluation, ...workerScoring() };
  if (s.backend === 'torch')
    return sharedTorchBackend({ device: s.device ?? 'cpu', dtype: s.dtype ?? 'float32', threads: s.threads });
  return onnxBackend({ threads: s.threads });
}

/**
 * Tests only (a campaign's fault injection): SIGKILLs this process's scoring process for these
 * settings, as a lost device would; the next evaluation starts a new one. Its pid, if one ran.
 */
export function killScoringProcessForTest(evaluation: ScoringSettings): number | undefined {
  const backend = campaignBackend(evaluation);
  return backend instanceof TorchBackend ? backend.killProcessForTest() : undefined;
}

/** The throughput objective: on the torch backend its own measurement (the worker's device, contiguous weights), else src/model/throughput.ts's protocol. */
async function throughputOf(scorer: SequenceScorer): Promise<number> {
  const torch = scorer as Partial<TorchScorer>;
  if (typeof torch.throughput === 'function') return (await torch.throughput()).tokensPerSecond;
  return (await measureThroughput(scorer)).tokensPerSecond;
}

/** What identifies a measurement: the checkpoint, the task and its settings, the numerics, the quantization. */
export function evaluationContext(
  checkpoint: string,
  task: PreparedTask,
  opts: {
    bos: boolean;
    sizeDtype: EvaluationRequest['sizeDtype'];
    quant: EvaluationRequest['quant'];
    numerics: Record<string, string>;
  },
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
      numerics: opts.numerics,
    },
    // the kernel and its parameters, not the mode's name: a mode that changes meaning (int8 was
    // DynamicQuantizeMatMul before it became weight-only) never answers from the old entries
    quantization: opts.quant === 'none' ? 'none' : quantTag(linearQuant(opts.quant)!),
  };
}

/**
 * The cache context of a throughput figure: the measurement's, plus where it ran and on how many
 * threads (the backend's `runsOn`); accuracy is shared across machines, a speed is not.
 */
export function throughputContext(
  context: ReturnType<typeof evaluationContext>,
  backend: Pick<ScoringBackend, 'runsOn'>,
) {
  return {
    ...context,
    settings: { ...context.settings, measured: 'throughput', runsOn: backend.runsOn ?? {} },
  };
}

/** The cached values without a throughput of unknown provenance, with the one measured here if any. */
function withThroughput(
  values: Record<string, number>,
  throughput: number | undefined,
): Record<string, number> {
  const { throughput: _unknownMachine, ...rest } = values;
  return throughput === undefined ? rest : { ...rest, throughput };
}

export interface EvaluateRequestOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { stage: EvaluationStage; done: number; total: number }) => void;
}

/**
 * One real evaluation of a sub-network on a task, or its cached result. The result is cached
 * and kept in the campaign's folder before it is returned, so a retry or a rerun never pays twice.
 */
export async function evaluateRequest(
  req: EvaluationRequest,
  opts: EvaluateRequestOptions = {},
): Promise<EvaluationResult> {
  const backend = campaignBackend(req);
  const ckpt = await openCheckpoint(req.modelDir);
  const subnet = canonicalSubnet(req.subnet, ckpt.config);
  const key = subnetKey(subnet);
  const cache = new EvaluationCache(req.cacheDir);
  const context = evaluationContext(ckpt.identity, req.task, { ...req, numerics: backend.numerics });
  const keep = (values: Record<string, number>, cached: boolean): EvaluationResult => {
    const result = resultFrom(key, req, subnet, values, cached);
    writeEvaluation(req.campaignDir, context, result);
    return result;
  };

  const speedContext = throughputContext(context, backend);
  const hit = cache.get(context, key);
  const speed = req.measureThroughput ? cache.get(speedContext, key)?.values.throughput : undefined;
  if (hit && (!req.measureThroughput || speed !== undefined))
    return keep(withThroughput(hit.values, speed), true);
  if (hit) {
    // measured before without the throughput objective, or on another machine: only the throughput is missing
    const scorer = await backend.openSubnet(req.modelDir, subnet, { quant: req.quant, signal: opts.signal });
    try {
      const throughput = await throughputOf(scorer);
      cache.put(speedContext, key, { throughput }, { host: hostname() });
      return keep(withThroughput(hit.values, throughput), true);
    } finally {
      await scorer.close();
    }
  }

  let throughput: number | undefined;
  const { result } = await evaluateSubnet(
    {
      modelDir: req.modelDir,
      subnet,
      task: {
        name: req.task.name,
        data: req.task.dataPath,
        shots: req.task.shots,
        limit: req.task.limit,
        fraction: req.task.fraction,
        bos: req.bos,
      },
    },
    {
      backend,
      quant: req.quant,
      signal: opts.signal,
      onProgress: (stage, done, total) => opts.onProgress?.({ stage, done, total }),
      // the throughput objective: src/model/throughput.ts's protocol on the opened session
      beforeScoring: req.measureThroughput
        ? async (scorer) => void (throughput = await throughputOf(scorer))
        : undefined,
    },
  );
  const metrics = result.results[req.task.name]!;
  const size = quantizedModelSize(ckpt.config, subnet, req.sizeDtype, req.quant);
  const values: Record<string, number> = {
    accuracy: metrics.acc,
    accuracyStderr: metrics.acc_stderr ?? 0,
    ...(metrics.acc_norm !== undefined ? { accuracyNorm: metrics.acc_norm } : {}),
    nSamples: result.nSamples,
    parameters: size.parameters,
    sizeBytes: size.bytes,
  };
  cache.put(context, key, values, { seconds: result.stats.seconds, host: hostname() });
  if (throughput !== undefined) cache.put(speedContext, key, { throughput }, { host: hostname() });
  logComputed(req.campaignDir, { key, task: req.task.name, quant: req.quant, at: new Date().toISOString() });
  return keep(withThroughput(values, throughput), false);
}

function resultFrom(
  key: string,
  req: EvaluationRequest,
  subnet: SubnetSpec,
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

/** The campaign's evaluations of the super-network in `superNetwork`, float and quantized, with its settings. */
export async function campaignEvaluations(
  campaign: PreparedCampaign,
  superNetwork: string,
): Promise<EvaluationResult[]> {
  const { identity } = await openCheckpoint(superNetwork);
  const { evaluation } = campaign.config;
  const { numerics } = campaignBackend(evaluation);
  return campaign.tasks.flatMap((task) =>
    (['none', ...campaign.config.quantization] as const).flatMap((quant) =>
      readEvaluations(
        campaign.campaignDir,
        evaluationContext(identity, task, { ...evaluation, quant, numerics }),
      ),
    ),
  );
}
