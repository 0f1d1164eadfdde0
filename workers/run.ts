import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import * as activities from '../activities';
import { connectWorker } from './connection';
import { TASK_QUEUES, type QueueRole } from './queues';

export interface WorkerOptions {
  roles: QueueRole[];
  /** Activities run at once per queue; for training, the devices this worker owns. */
  concurrency?: Partial<Record<QueueRole, number>>;
}

const DEFAULT_CONCURRENCY: Record<QueueRole, number> = { main: 8, train: 1, eval: 1 };

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Workflows are bundled once per process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietLogger() });
  return bundle;
}

function quietLogger() {
  const noop = (): void => undefined;
  return { log: noop, trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error };
}

/** Creates one worker per role, all on one connection; workflows run only on the main queue. */
export async function createWorkers(opts: WorkerOptions): Promise<Worker[]> {
  const { connection, namespace } = await connectWorker();
  const workers: Worker[] = [];
  for (const role of opts.roles) {
    const concurrency = opts.concurrency?.[role] ?? DEFAULT_CONCURRENCY[role];
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: TASK_QUEUES[role],
        activities,
        maxConcurrentActivityTaskExecutions: concurrency,
        ...(role === 'main' ? { workflowBundle: await workflowBundle() } : {}),
      }),
    );
  }
  return workers;
}

export async function runWorkers(opts: WorkerOptions): Promise<void> {
  const workers = await createWorkers(opts);
  await Promise.all(workers.map((w) => w.run()));
}
