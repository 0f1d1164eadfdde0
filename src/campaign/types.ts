// A campaign's data as the workflows pass it to the activities: small JSON (paths, keys,
// numbers), never weights.
import type { CampaignConfig, TaskName } from '../../config/campaign';
import type { SubnetSpec } from '../model/types';
import type { SearchSpace } from '../search/space';

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
  /**
   * The search space, normalised: sorted layer counts, one sorted width list per layer. (Campaigns
   * prepared before #16 carry it as configured, widths possibly one list shared by all layers.)
   */
  space: SearchSpace;
  /** The largest sub-network of the space, every layer at its widest: the point every sub-network is compared with. */
  fullNetwork: SubnetSpec;
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
  /** Scoring engine and its numerics (campaign `evaluation.backend/device/dtype`); default onnx. */
  backend?: 'onnx' | 'torch';
  device?: string;
  dtype?: 'float32' | 'float16' | 'bfloat16';
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

export interface ProposeRequest {
  /** The state file this step starts from; undefined for a new search (its folder: src/campaign/layout.ts). */
  stateFile?: string;
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
