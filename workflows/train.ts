import type { Duration } from '@temporalio/common';
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { TrainRequest, TrainResult } from '../activities/train';
import { TASK_QUEUES } from '../src/queues';
import { NON_RETRYABLE } from './options';

export interface TrainWorkflowInput {
  request: TrainRequest;
  /** Default: the training queue ('llama-nas-train'). */
  taskQueue?: string;
  /** How soon a dead worker or trainer is noticed (default 5 minutes). */
  heartbeatTimeout?: Duration;
  maximumAttempts?: number;
}

/** Runs one training job on the training queue, retried (resuming from its checkpoint) until it finishes. */
export async function trainWorkflow(input: TrainWorkflowInput): Promise<TrainResult> {
  const { trainModel } = proxyActivities<typeof activities>({
    taskQueue: input.taskQueue ?? TASK_QUEUES.train,
    startToCloseTimeout: '72 hours',
    heartbeatTimeout: input.heartbeatTimeout ?? '5 minutes',
    retry: {
      initialInterval: '1 second',
      maximumInterval: '1 minute',
      maximumAttempts: input.maximumAttempts ?? 20,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  });
  return await trainModel(input.request);
}
