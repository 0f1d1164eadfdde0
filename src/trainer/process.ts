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
import type { TrainMode } from './config';

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
  /** Aborting sends SIGTERM (the trainer checkpoints and exits), then SIGKILL after `killGraceMs`. */
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

/** Runs `python -m llama_nas_trainer.train` and resolves with its final `done` event. */
export function runTrainer(run: TrainerRun): Promise<TrainerOutcome> {
  const args = ['-m', 'llama_nas_trainer.train', '--mode', run.mode, '--config', run.configFile, '--out', run.out];
  if (run.resume) args.push('--resume');
  const env = { ...(run.env ?? process.env) };
  env.PYTHONPATH = env.PYTHONPATH ? `${trainerPackageDir}:${env.PYTHONPATH}` : trainerPackageDir;
  // packages provisioning installs beside the state (`tokenizers`, for byte-level BPE models), last
  const pylib = join(stateDir(env), 'pylib');
  if (existsSync(pylib)) env.PYTHONPATH = `${env.PYTHONPATH}:${pylib}`;
  env.PYTHONUNBUFFERED = '1';
  return new Promise<TrainerOutcome>((resolvePromise, reject) => {
    const child = spawn(run.python, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), run.killGraceMs ?? 60_000);
    };
    if (run.signal?.aborted) onAbort();
    run.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err) => {
      run.signal?.removeEventListener('abort', onAbort);
      reject(new TrainerFailure('internal', `cannot start ${run.python}: ${err.message}`, null));
    });
    child.on('close', (code, signal) => {
      if (killTimer) clearTimeout(killTimer);
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
