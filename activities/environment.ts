import { spawnSync } from 'node:child_process';
import { cpus, hostname } from 'node:os';
import { findTorchPython } from '../src/toolchain';

export interface WorkerEnvironment {
  host: string;
  node: string;
  cpus: number;
  python: string | null;
  torch: string | null;
  cuda: boolean;
}

/** What a worker can run: used by the probe workflow and by `llama-nas doctor`. */
export async function describeEnvironment(): Promise<WorkerEnvironment> {
  const python = findTorchPython() ?? null;
  let torch: string | null = null;
  let cuda = false;
  if (python) {
    const r = spawnSync(
      python,
      ['-c', 'import torch, json; print(json.dumps([torch.__version__, torch.cuda.is_available()]))'],
      {
        encoding: 'utf8',
      },
    );
    if (r.status === 0) [torch, cuda] = JSON.parse(r.stdout.trim()) as [string, boolean];
  }
  return { host: hostname(), node: process.version, cpus: cpus().length, python, torch, cuda };
}
