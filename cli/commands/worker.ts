import type { Command } from 'commander';
import { UsageError } from '../errors';
import { parseQueueSpec } from '../../workers/queues';
import { runWorkers } from '../../workers/run';
import { connectConfig } from '../../workers/connection';
import { setWorkerScoring } from '../../src/campaign/evaluations';
import { closeSharedTorchBackends, parseScoringFlags } from '../../src/eval/torch-backend';

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
    .option(
      '--backend <name>',
      "scoring engine of this worker's evaluations: onnx or torch (default: the campaign's)",
    )
    .option('--device <device>', 'torch device of this worker (cpu, cuda, cuda:N): one worker per GPU')
    .option(
      '--dtype <dtype>',
      'torch dtype: float32, bfloat16, float16 (default: float32 on cpu, bfloat16 on cuda)',
    )
    .action(
      async (opts: {
        queues: string;
        trainConcurrency: string;
        evalConcurrency: string;
        backend?: string;
        device?: string;
        dtype?: string;
      }) => {
        const { roles, taskQueues } = parseQueueSpec(opts.queues);
        if (opts.backend !== undefined || opts.device !== undefined || opts.dtype !== undefined) {
          // --device or --dtype alone mean the torch backend
          const scoring = parseScoringFlags({ ...opts, backend: opts.backend ?? 'torch' });
          if (typeof scoring === 'string') throw new UsageError(scoring);
          setWorkerScoring(scoring);
          console.error(`llama-nas: evaluations on ${scoring.backend} (${scoring.device}, ${scoring.dtype})`);
        }
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
        await closeSharedTorchBackends();
        // the workers have drained (SIGINT/SIGTERM); the native connection would keep the process alive
        process.exit(0);
      },
    );
}
