import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';

const { describeEnvironment } = proxyActivities<typeof activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3 },
});

/** Asks a worker what it can run (Node, torch, CUDA): the smallest end-to-end check of a deployment. */
export async function probeWorkflow(): Promise<Awaited<ReturnType<typeof activities.describeEnvironment>>> {
  return await describeEnvironment();
}
