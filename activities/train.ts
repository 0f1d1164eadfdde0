import { join } from 'node:path';
import { ApplicationFailure, CancelledFailure, Context, activityInfo } from '@temporalio/activity';
import { z } from 'zod';
import { writeJsonAtomic } from '../src/fsutil';
import { ToolchainError, requireTorchPython } from '../src/toolchain';
import { isNonRetryable } from '../src/failures';
import { zodErrorText } from '../src/zod-error';
import {
  TRAIN_MODES,
  TrainConfigError,
  TrainerFailure,
  absolutePaths,
  configBaseDir,
  latestCheckpoint,
  parseTrainConfig,
  readTrainConfig,
  runTrainer,
} from '../src/trainer';

/** What a workflow asks for: the config as a file (paths relative to it) or inline (paths relative to the worker's cwd). */
export const TrainRequestSchema = z
  .strictObject({
    mode: z.enum(TRAIN_MODES),
    configFile: z.string().min(1).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
    /** The output folder: the final HF folder, checkpoints/ and train_result.json. Derive it from the campaign's identity. */
    out: z.string().min(1),
  })
  .refine((r) => (r.configFile === undefined) !== (r.config === undefined), {
    message: 'give exactly one of configFile and config',
    path: ['configFile'],
  });
export type TrainRequest = z.infer<typeof TrainRequestSchema>;

/** Heartbeat details: small, and enough for the next attempt to know where the last one got to. */
export interface TrainHeartbeat {
  step: number;
  totalSteps?: number;
  checkpoint?: string;
  loss?: number;
}

export interface TrainResult {
  /** The HF folder (config.json, model.safetensors, tokenizer files). */
  out: string;
  steps: number;
  loss: number | null;
  checkpoint: string | null;
  /** The step this attempt started from (0 unless it resumed from a checkpoint). */
  resumedFromStep: number;
  attempt: number;
}

const HEARTBEAT_EVERY_MS = 5_000;

/**
 * Trains with the PyTorch trainer in a child process. Heartbeats carry the step and the newest
 * checkpoint; a retried attempt resumes from the newest checkpoint in `out` (the trainer always
 * runs with --resume, and a finished run in `out` returns its recorded result at once).
 * Cancellation stops the trainer (SIGTERM: it checkpoints and exits). Bad config or data fail
 * without retry, with the trainer's message and its type.
 */
export async function trainModel(input: TrainRequest): Promise<TrainResult> {
  const ctx = Context.current();
  const info = activityInfo();
  const parsed = TrainRequestSchema.safeParse(input);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(`train request: ${zodErrorText(parsed.error)}`, 'bad_config');
  const req = parsed.data;
  const out = req.out;
  let configFile: string;
  try {
    const cfg = req.configFile
      ? absolutePaths(readTrainConfig(req.configFile, req.mode), configBaseDir(req.configFile))
      : absolutePaths(parseTrainConfig(req.config, 'train request config', req.mode), process.cwd());
    configFile = join(out, 'trainer-config.json');
    writeJsonAtomic(configFile, cfg);
  } catch (err) {
    if (err instanceof TrainConfigError) throw ApplicationFailure.nonRetryable(err.message, 'bad_config');
    throw err;
  }

  let python: string;
  try {
    python = requireTorchPython();
  } catch (err) {
    // another worker on this queue may have torch: retry rather than fail the campaign
    if (err instanceof ToolchainError) throw ApplicationFailure.retryable(err.message, 'ToolchainError');
    throw err;
  }

  const previous = info.heartbeatDetails as TrainHeartbeat | undefined;
  const onDisk = latestCheckpoint(out);
  const details: TrainHeartbeat = {
    step: onDisk?.step ?? previous?.step ?? 0,
    checkpoint: onDisk?.path ?? previous?.checkpoint,
  };
  if (info.attempt > 1) {
    ctx.log.info('retrying training', {
      attempt: info.attempt,
      heartbeat: previous,
      checkpointOnDisk: onDisk,
    });
  }
  ctx.heartbeat(details);
  const timer = setInterval(() => ctx.heartbeat(details), HEARTBEAT_EVERY_MS);
  try {
    const outcome = await runTrainer({
      python,
      mode: req.mode,
      configFile,
      out,
      resume: true,
      signal: ctx.cancellationSignal,
      onEvent: (e) => {
        if (e.type === 'step') {
          details.step = e.step;
          details.totalSteps = e.total_steps;
          details.loss = e.loss;
        } else if (e.type === 'checkpoint') {
          details.step = e.step;
          details.checkpoint = e.path;
        } else {
          return;
        }
        ctx.heartbeat(details);
      },
      onStderr: (line) => ctx.log.debug(`trainer: ${line}`),
    });
    return {
      out: outcome.done.out,
      steps: outcome.done.steps,
      loss: outcome.done.loss,
      checkpoint: outcome.done.checkpoint,
      resumedFromStep: outcome.start?.step ?? outcome.done.steps,
      attempt: info.attempt,
    };
  } catch (err) {
    if (ctx.cancellationSignal.aborted) {
      const reason: unknown = ctx.cancellationSignal.reason;
      throw reason instanceof CancelledFailure ? reason : new CancelledFailure('training cancelled');
    }
    if (err instanceof TrainerFailure) {
      throw ApplicationFailure.create({
        message: err.message,
        type: err.type,
        nonRetryable: isNonRetryable(err.type),
        details: [{ checkpoint: err.lastCheckpoint ?? details.checkpoint, exitCode: err.exitCode }],
      });
    }
    throw err;
  } finally {
    clearInterval(timer);
  }
}
