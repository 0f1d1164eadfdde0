import type { Command } from 'commander';
import { parseQueues } from '../../workers/queues';
import { runWorkers } from '../../workers/run';
import { connectConfig } from '../../workers/connection';

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'run a worker (connects through TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE; default the embedded server)',
    )
    .option('--queues <roles>', 'comma-separated roles: main (workflows), train, eval', 'main,train,eval')
    .option('--train-concurrency <n>', 'training activities at once (devices this worker owns)', '1')
    .option('--eval-concurrency <n>', 'evaluation activities at once', '1')
    .action(async (opts: { queues: string; trainConcurrency: string; evalConcurrency: string }) => {
      const roles = parseQueues(opts.queues);
      const { address, namespace } = connectConfig();
      console.error(`llama-nas: worker for ${roles.join(', ')} on ${address} (namespace ${namespace})`);
      await runWorkers({
        roles,
        concurrency: { train: Number(opts.trainConcurrency), eval: Number(opts.evalConcurrency) },
      });
    });
}
