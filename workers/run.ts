import { Worker, type WorkerOptions as TemporalWorkerOptions } from '@temporalio/worker';
import * as activities from '../activities';
import { configureActivityThreads } from '../activities/threads';
import { bundleWorkflows, findPrebuiltBundle } from './bundle';
import { connectWorker } from './connection';
import { TASK_QUEUES, type QueueRole } from './queues';

export interface WorkerOptions {
  roles: QueueRole[];
  /** Activities run at once per queue; for training, the devices this worker owns. */
  concurrency?: Partial<Record<QueueRole, number>>;
  /** Task queue names other than TASK_QUEUES (a campaign config's `queues`). */
  taskQueues?: Partial<Record<QueueRole, string>>;
}

const DEFAULT_CONCURRENCY: Record<QueueRole, number> = { main: 8, train: 1, eval: 1 };

let bundle: Promise<TemporalWorkerOptions['workflowBundle']> | undefined;
/**
 * The workflow code, found once per process: the bundle built by `npm run build:workflows`
 * when it matches the sources, else bundled here (a development checkout).
 */
export function workflowBundle(): Promise<TemporalWorkerOptions['workflowBundle']> {
  bundle ??= (async () => {
    const prebuilt = findPrebuiltBundle();
    if ('codePath' in prebuilt) {
      console.error(`llama-nas: workflows from the prebuilt bundle ${prebuilt.codePath}`);
      return { codePath: prebuilt.codePath };
    }
    console.error(`llama-nas: ${prebuilt.missing}; bundling the workflows now`);
    return (await bundleWorkflows()).bundle;
  })();
  return bundle;
}

/** Creates one worker per role, all on one connection; workflows run only on the main queue. */
export async function createWorkers(opts: WorkerOptions): Promise<Worker[]> {
  const { connection, namespace } = await connectWorker();
  // heavy activity bodies run in threads: one per activity this process may run at once
  configureActivityThreads(
    opts.roles.reduce((n, role) => n + (opts.concurrency?.[role] ?? DEFAULT_CONCURRENCY[role]), 0),
  );
  const workers: Worker[] = [];
  for (const role of opts.roles) {
    const concurrency = opts.concurrency?.[role] ?? DEFAULT_CONCURRENCY[role];
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: opts.taskQueues?.[role] ?? TASK_QUEUES[role],
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
