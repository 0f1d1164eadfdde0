import type { ActivityOptions } from '@temporalio/workflow';
import type { PreparedCampaign } from '../activities/types';

/** Failures a retry cannot mend: bad input (config, data, checkpoint), from TypeScript or the trainer. */
export const NON_RETRYABLE = ['ConfigError', 'BadData', 'BadCheckpoint', 'bad_config', 'bad_data'];

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
