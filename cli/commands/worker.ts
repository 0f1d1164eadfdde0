import type { Command } from 'commander';
import { UsageError } from '../errors';
import { parseQueueSpec } from '../../workers/queues';
import { runWorkers } from '../../workers/run';
import { connectConfig } from '../../workers/connection';

function count(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag}: "${value}" is not a positive whole number`);
  return n;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'run a worker (connects through TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE; default the embedded server)',
    )
    .option(
      '--queues <roles>',
      'comma-separated roles: main (workflows), train, eval; role=NAME polls task queue NAME',
      'main,train,eval',
    )
    .option('--train-concurrency <n>', 'training activities at once (devices this worker owns)', '1')
    .option('--eval-concurrency <n>', 'evaluation activities at once', '1')
    .action(async (opts: { queues: string; trainConcurrency: string; evalConcurrency: string }) => {
      const { roles, taskQueues } = parseQueueSpec(opts.queues);
      const { address, namespace } = connectConfig();
      console.error(`llama-nas: worker for ${roles.join(', ')} on ${address} (namespace ${namespace})`);
      await runWorkers({
        roles,
        taskQueues,
        concurrency: {
          train: count('--train-concurrency', opts.trainConcurrency),
          eval: count('--eval-concurrency', opts.evalConcurrency),
        },
      });
      // the workers have drained (SIGINT/SIGTERM); the native connection would keep the process alive
      process.exit(0);
    });
}
