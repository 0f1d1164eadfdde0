import { spawn } from 'node:child_process';
import { requireTorchPython } from '../src/toolchain';
import { trainerPackageDir } from '../src/trainer';

/**
 * Training speed: tokens/s of the trainer (InstaTune's alternation of the full network and
 * sampled sub-networks, and the trainer with the full network every step) next to a plain
 * PyTorch loop over the same model and batches (trainer/llama_nas_trainer/bench.py). The goal:
 * the trainer reaches at least 90% of the plain loop's tokens/s on the embedded default.
 *
 * Then the trainer as a job of 1 and of 2 processes (torchrun, DDP over gloo on the CPU) on the same
 * global batch, each process with cores / processes threads: their tokens/s side by side.
 *
 * LLAMA_NAS_BENCH_TRAIN_STEPS (default 6), LLAMA_NAS_BENCH_TRAIN_ARCH (LlamaConfig JSON),
 * LLAMA_NAS_BENCH_TRAIN_BATCH (default 32) and LLAMA_NAS_BENCH_TRAIN_PROCESSES (job sizes, default
 * "1,2"; "" skips the jobs) change the workload.
 */
export async function run({ json }: { json: boolean }): Promise<void> {
  const python = requireTorchPython();
  const args = ['-m', 'llama_nas_trainer.bench', '--steps', process.env.LLAMA_NAS_BENCH_TRAIN_STEPS ?? '6'];
  if (process.env.LLAMA_NAS_BENCH_TRAIN_ARCH)
    args.push('--architecture', process.env.LLAMA_NAS_BENCH_TRAIN_ARCH);
  if (process.env.LLAMA_NAS_BENCH_TRAIN_BATCH)
    args.push('--batch-size', process.env.LLAMA_NAS_BENCH_TRAIN_BATCH);
  args.push('--processes', process.env.LLAMA_NAS_BENCH_TRAIN_PROCESSES ?? '1,2');
  if (json) args.push('--json');
  const env = {
    ...process.env,
    PYTHONPATH: [trainerPackageDir, process.env.PYTHONPATH].filter(Boolean).join(':'),
  };
  await new Promise<void>((resolve, reject) => {
    const child = spawn(python, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`trainer benchmark exited with code ${code}`)),
    );
  });
}
