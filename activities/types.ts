// Inputs and outputs of the campaign's activities: small JSON (paths, keys, numbers), never weights.
import type { SubnetSpec } from '../src/model/types';
import type { CampaignConfig, TaskName } from '../config/campaign';

export type Quant = 'none' | 'int8' | 'int4';

export interface PreparedTask {
  name: TaskName;
  dataPath: string;
  shots?: number;
  limit?: number;
  fraction?: number;
}

/** The campaign with every path resolved and every input checked. */
export interface PreparedCampaign {
  config: CampaignConfig;
  campaignDir: string;
  baseModelDir: string;
  /** Alpaca-format data for InstaTune (undefined when fine-tuning is skipped or reused). */
  instructionData?: string;
  tasks: PreparedTask[];
  space: { layerCounts: number[]; widths: number[] | number[][] };
  /** Trainer hyper-parameters the campaign's own ones are merged over (the embedded world's InstaTune settings). */
  trainerDefaults: Record<string, unknown>;
  /** Where evaluation results are cached, shared across campaigns. */
  cacheDir: string;
  baseModelName: string;
}

export interface EvaluationRequest {
  campaignDir: string;
  cacheDir: string;
  modelDir: string;
  subnet: SubnetSpec;
  task: PreparedTask;
  quant: Quant;
  bos: boolean;
  threads?: number;
  sizeDtype: 'f32' | 'f16' | 'bf16';
  measureThroughput: boolean;
  /** Tests only: the fraction of attempts that fail as a device failure would. */
  faultInjection?: { failureRate: number; seed: number };
}

export interface EvaluationResult {
  key: string;
  task: TaskName;
  quant: Quant;
  subnet: SubnetSpec;
  accuracy: number;
  accuracyStderr: number;
  /** The task's acc_norm where it defines one. */
  accuracyNorm?: number;
  nSamples: number;
  parameters: number;
  sizeBytes: number;
  throughput?: number;
  /** True when the result came from the evaluation cache. */
  cached: boolean;
}

export interface SearchPaths {
  searchDir: string;
  /** The state file this step starts from; undefined for a new search. */
  stateFile?: string;
}

export interface ProposeRequest extends SearchPaths {
  task: TaskName;
  /** What the search's identity derives from: a rerun with other inputs starts a search of its own. */
  campaign: PreparedCampaign;
  evaluation: PreparedTask;
  modelDir: string;
  space: PreparedCampaign['space'];
  linas: CampaignConfig['linas'];
  objectives: CampaignConfig['objectives'];
  maxSizeBytes?: number;
  /** The budget of real evaluations now in force (extended by the extendBudget update). */
  budget: number;
}

export interface Proposal {
  stateFile: string;
  done: boolean;
  loop: number;
  candidates: { key: string; subnet: SubnetSpec }[];
}

export interface RecordRequest {
  searchDir: string;
  stateFile: string;
  results: EvaluationResult[];
  objectives: CampaignConfig['objectives'];
}

export interface FrontPoint {
  key: string;
  subnet: SubnetSpec;
  objectives: Record<string, number>;
}

export interface SearchProgress {
  stateFile: string;
  loop: number;
  evaluated: number;
  budget: number;
  done: boolean;
  hypervolume: number;
  front: FrontPoint[];
  /** Cross-validated error of each objective's predictor, last loop. */
  predictorError?: Record<string, number>;
}
