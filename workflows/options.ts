// Activity options and requests shared by the workflows. Values come only from @temporalio/workflow
// and import-free modules of src/ (failure classes, queue names); everything else is a type.
import type { ActivityOptions } from '@temporalio/workflow';
import type { EvaluationRequest, PreparedCampaign, PreparedTask, Quant } from '../src/campaign/types';
import type { SubnetSpec } from '../src/model/types';
import { NON_RETRYABLE_FAILURES } from '../src/failures';

/** Failures a retry cannot mend: bad input (config, data, checkpoint), from TypeScript or the trainer. */
export const NON_RETRYABLE = [...NON_RETRYABLE_FAILURES];

type CampaignConfig = PreparedCampaign['config'];

/** Sub-network evaluations: minutes each, on the eval queue, heartbeating; retried often (device hiccups). */
export function evaluationOptions(cfg: CampaignConfig): ActivityOptions {
  return {
    taskQueue: cfg.queues.eval,
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: cfg.heartbeatTimeouts.evalSeconds * 1000,
    retry: {
      initialInterval: '1 second',
      maximumInterval: '1 minute',
      maximumAttempts: 20,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
}

/** The request of one evaluation of a sub-network of `modelDir` on a task of the campaign. */
export function evaluationRequest(
  campaign: PreparedCampaign,
  modelDir: string,
  task: PreparedTask,
  subnet: SubnetSpec,
  quant: Quant = 'none',
): EvaluationRequest {
  const { config } = campaign;
  return {
    campaignDir: campaign.campaignDir,
    cacheDir: campaign.cacheDir,
    modelDir,
    subnet,
    task,
    quant,
    bos: config.evaluation.bos,
    threads: config.evaluation.threads,
    backend: config.evaluation.backend,
    device: config.evaluation.device,
    dtype: config.evaluation.dtype,
    sizeDtype: config.evaluation.sizeDtype,
    measureThroughput: config.objectives[0] === 'throughput',
    faultInjection: config.faultInjection,
  };
}
