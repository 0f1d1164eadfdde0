import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, stateDir } from '../toolchain';
import {
  LineSplitter,
  TRAINER_EXIT_CODES,
  isErrorEvent,
  parseTrainerLine,
  type TrainerDone,
  type TrainerErrorType,
  type TrainerEvent,
  type TrainerStart,
} from './protocol';
import { readTrainConfig, trainerLaunch, type TrainMode, type TrainerLaunch } from './config';

/** The trainer ended without a result: `type` is the protocol's error type, or 'interrupted'. */
export class TrainerFailure extends Error {
  override name = 'TrainerFailure';
  constructor(
    readonly type: TrainerErrorType | 'interrupted',
    message: string,
    readonly exitCode: number | null,
    readonly lastCheckpoint?: string,
  ) {
    super(message);
  }
}

export interface TrainerRun {
  python: string;
  mode: TrainMode;
  configFile: string;
  out: string;
  resume: boolean;
  /** Every protocol event, in order. */
  onEvent?: (event: TrainerEvent) => void;
  /** Lines of stderr (warnings, tracebacks): the tail goes into failures. */
  onStderr?: (line: string) => void;
  /**
   * Several processes (torchrun); default: the config file's nproc_per_node / nnodes / rdzv_* fields. Only
   * rank 0 prints the protocol, so events are rank 0's.
   */
  launch?: TrainerLaunch;
  /**
   * Aborting sends SIGTERM to the trainer's whole process group (torchrun and every rank: each checkpoints at
   * the end of the step and exits), then SIGKILL to the group after `killGraceMs`.
   */
  signal?: AbortSignal;
  killGraceMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface TrainerOutcome {
  done: TrainerDone;
  start?: TrainerStart;
  lastCheckpoint?: string;
}

/** The folder holding the Python package llama_nas_trainer. */
export const trainerPackageDir = join(projectRoot, 'trainer');

const codeToType = new Map<number, TrainerErrorType | 'interrupted'>(
  Object.entries(TRAINER_EXIT_CODES)
    .filter(([k]) => k !== 'done')
    .map(([k, v]) => [v, k as TrainerErrorType | 'interrupted']),
);

/** Processes of a launch, on all its nodes. */
export function launchProcesses(launch: TrainerLaunch | undefined): number {
  return launch ? launch.nprocPerNode * launch.nnodes : 1;
}

/**
 * The interpreter's arguments: `-m llama_nas_trainer.train ...` for one process; for several, torchrun's
 * (through llama_nas_trainer.launch, which is torchrun plus a Python 3.11 fix for torch 1.13):
 * `--standalone` on one node, a c10d rendezvous at `rdzvEndpoint` across nodes. No restarts: a failed job
 * is retried by the caller, which resumes from the newest checkpoint.
 */
export function trainerArgs(run: Pick<TrainerRun, 'mode' | 'configFile' | 'out' | 'resume' | 'launch'>): string[] {
  const train = ['-m', 'llama_nas_trainer.train', '--mode', run.mode, '--config', run.configFile, '--out', run.out];
  if (run.resume) train.push('--resume');
  const launch = run.launch;
  if (!launch || launchProcesses(launch) === 1) return train;
  const torchrun = ['-m', 'llama_nas_trainer.launch', `--nproc_per_node=${launch.nprocPerNode}`, '--max_restarts=0'];
  if (launch.nnodes === 1) {
    torchrun.push('--standalone');
  } else {
    if (!launch.rdzvEndpoint) throw new Error(`a launch on ${launch.nnodes} nodes needs a rendezvous endpoint (rdzv_endpoint)`);
    torchrun.push(
      `--nnodes=${launch.nnodes}`,
      '--rdzv_backend=c10d',
      `--rdzv_endpoint=${launch.rdzvEndpoint}`,
      `--rdzv_id=${launch.rdzvId ?? 'llama-nas'}`,
    );
    if (launch.nodeRank !== undefined) torchrun.push(`--node_rank=${launch.nodeRank}`);
  }
  return [...torchrun, ...train];
}

/** The launch a config file asks for; one process when it cannot be read (the trainer then reports why). */
function configLaunch(configFile: string, mode: TrainMode): TrainerLaunch | undefined {
  try {
    return trainerLaunch(readTrainConfig(configFile, mode));
  } catch {
    return undefined;
  }
}

/** Signals the trainer's process group (it leads its own), falling back to the process alone. */
function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** Runs `python -m llama_nas_trainer.train` (under torchrun for several processes) and resolves with its final `done` event. */
export function runTrainer(run: TrainerRun): Promise<TrainerOutcome> {
  const launch = run.launch ?? configLaunch(run.configFile, run.mode);
  const args = trainerArgs({ ...run, launch });
  const env = { ...(run.env ?? process.env) };
  env.PYTHONPATH = env.PYTHONPATH ? `${trainerPackageDir}:${env.PYTHONPATH}` : trainerPackageDir;
  // packages provisioning installs beside the state (`tokenizers`, for byte-level BPE models), last
  const pylib = join(stateDir(env), 'pylib');
  if (existsSync(pylib)) env.PYTHONPATH = `${env.PYTHONPATH}:${pylib}`;
  env.PYTHONUNBUFFERED = '1';
  return new Promise<TrainerOutcome>((resolvePromise, reject) => {
    // detached: the trainer leads a process group of its own, so cancellation reaches torchrun's ranks too
    const child = spawn(run.python, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const outcome: Partial<TrainerOutcome> = {};
    let failure: TrainerFailure | undefined;
    let last: TrainerEvent | undefined;
    const stderrTail: string[] = [];
    const stdout = new LineSplitter();
    const stderr = new LineSplitter();
    let killTimer: NodeJS.Timeout | undefined;

    const handleLine = (line: string): void => {
      let event: TrainerEvent | undefined;
      try {
        event = parseTrainerLine(line);
      } catch (err) {
        failure ??= new TrainerFailure('internal', (err as Error).message, null);
        return;
      }
      if (!event) {
        if (line.trim()) run.onStderr?.(line);
        return;
      }
      last = event;
      if (event.type === 'start') outcome.start = event;
      if (event.type === 'checkpoint') outcome.lastCheckpoint = event.path;
      if (event.type === 'done') outcome.done = event;
      run.onEvent?.(event);
    };
    const handleStderr = (line: string): void => {
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
      run.onStderr?.(line);
    };

    child.stdout.setEncoding('utf8').on('data', (c: string) => stdout.push(c).forEach(handleLine));
    child.stderr.setEncoding('utf8').on('data', (c: string) => stderr.push(c).forEach(handleStderr));

    const onAbort = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), run.killGraceMs ?? 60_000);
    };
    if (run.signal?.aborted) onAbort();
    run.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err) => {
      run.signal?.removeEventListener('abort', onAbort);
      reject(new TrainerFailure('internal', `cannot start ${run.python}: ${err.message}`, null));
    });
    child.on('close', (code, signal) => {
      if (killTimer) clearTimeout(killTimer);
      // no rank outlives the job (a rank torchrun could not stop, or one left by a killed launcher)
      if (launchProcesses(launch) > 1) signalGroup(child.pid, 'SIGKILL');
      run.signal?.removeEventListener('abort', onAbort);
      stdout.end().forEach(handleLine);
      stderr.end().forEach(handleStderr);
      if (code === 0 && outcome.done && !failure) {
        resolvePromise(outcome as TrainerOutcome);
        return;
      }
      if (failure) {
        reject(failure);
        return;
      }
      if (last && isErrorEvent(last)) {
        reject(new TrainerFailure(last.type, last.message, code, outcome.lastCheckpoint));
        return;
      }
      if (last?.type === 'interrupted') {
        reject(new TrainerFailure('interrupted', last.message, code, last.checkpoint ?? outcome.lastCheckpoint));
        return;
      }
      const type = (code !== null ? codeToType.get(code) : undefined) ?? 'internal';
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = stderrTail.length ? `: ${stderrTail.slice(-5).join(' | ')}` : '';
      reject(new TrainerFailure(type, `the trainer ${how}${tail}`, code, outcome.lastCheckpoint));
    });
  });
}

/** The newest checkpoint the trainer recorded in `out` (checkpoints/latest.json), if its file exists. */
export function latestCheckpoint(out: string): { step: number; path: string } | undefined {
  const file = join(out, 'checkpoints', 'latest.json');
  if (!existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { step?: unknown; path?: unknown };
    if (typeof v.step === 'number' && typeof v.path === 'string' && existsSync(v.path)) return { step: v.step, path: v.path };
  } catch {
    // a torn read cannot happen (atomic rename), but a hand-edited file can: ignore it
  }
  return undefined;
}

/** The recorded result of a finished run in `out` (train_result.json), if any. */
export function finishedRun(out: string): TrainerDone | undefined {
  const file = join(out, 'train_result.json');
  if (!existsSync(file)) return undefined;
  try {
    const line = parseTrainerLine(readFileSync(file, 'utf8').replace(/\s*\n\s*/g, ' '));
    return line?.type === 'done' ? line : undefined;
  } catch {
    return undefined;
  }
}
