import { resolve } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { requireTorchPython } from '../../src/toolchain';
import {
  TRAIN_MODES,
  TrainConfigError,
  TrainerFailure,
  readTrainConfig,
  runTrainer,
  type TrainMode,
  type TrainerEvent,
} from '../../src/trainer';
import { UsageError } from '../errors';
import { isNonRetryable } from '../../src/failures';

interface TrainOptions {
  mode?: string;
  config: string;
  out: string;
  resume: boolean;
  json: boolean;
}

/** Progress on stderr: a bar on a terminal, a line every tenth of the run otherwise. */
function reporter(json: boolean): { event: (e: TrainerEvent) => void; stop: () => void } {
  if (json) return { event: (e) => process.stdout.write(`${JSON.stringify(e)}\n`), stop: () => undefined };
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      {
        stream: process.stderr,
        format: 'train [{bar}] {value}/{total} loss {loss} lr {lr} {tps} tok/s eta {eta_formatted}',
        etaBuffer: 20,
      },
      Presets.shades_classic,
    );
    let started = false;
    return {
      event: (e) => {
        if (e.type === 'start') {
          bar.start(e.total_steps, e.step, { loss: '-', lr: '-', tps: '-' });
          started = true;
        } else if (e.type === 'step' && started) {
          bar.update(e.step, {
            loss: e.loss.toFixed(4),
            lr: e.lr.toExponential(2),
            tps: Math.round(e.tokens_per_s),
          });
        }
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let every = 1;
  return {
    event: (e) => {
      if (e.type === 'start') {
        every = Math.max(1, Math.round(e.total_steps / 10));
        const from = e.resumed_from ? `, resuming from ${e.resumed_from}` : '';
        console.error(
          `train: ${e.mode}, ${e.total_steps} steps, ${e.parameters} parameters on ${e.device}${from}`,
        );
      } else if (e.type === 'step' && (e.step % every === 0 || e.step === e.total_steps)) {
        console.error(
          `train: step ${e.step}/${e.total_steps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${Math.round(e.tokens_per_s)} tok/s`,
        );
      }
    },
    stop: () => undefined,
  };
}

export function register(program: Command): void {
  program
    .command('train')
    .description(
      'pretrain a base model, or fine-tune a super-network elastically (InstaTune), with the PyTorch trainer',
    )
    .option('--mode <mode>', `${TRAIN_MODES.join(' | ')} (default: the config's mode)`)
    .requiredOption('--config <file>', 'training config (JSON; see trainer/README.md)')
    .requiredOption('--out <dir>', 'output folder: the HF model, checkpoints/, train_result.json')
    .option('--resume', 'continue from the newest checkpoint in --out', false)
    .option('--json', 'print the trainer’s JSON-lines progress on stdout', false)
    .action(async (opts: TrainOptions) => {
      if (opts.mode !== undefined && !(TRAIN_MODES as readonly string[]).includes(opts.mode)) {
        throw new UsageError(`--mode ${opts.mode}: expected one of ${TRAIN_MODES.join(', ')}`);
      }
      let mode: TrainMode;
      try {
        mode = readTrainConfig(opts.config, opts.mode as TrainMode | undefined).mode;
      } catch (err) {
        if (err instanceof TrainConfigError) throw new UsageError(err.message);
        throw err;
      }
      const out = resolve(opts.out);
      const python = requireTorchPython();
      const stopper = new AbortController();
      const onSignal = (): void => {
        if (!opts.json) console.error('\ntrain: stopping at the end of this step (checkpointing)...');
        stopper.abort();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const progress = reporter(opts.json);
      try {
        const { done } = await runTrainer({
          python,
          mode,
          configFile: resolve(opts.config),
          out,
          resume: opts.resume,
          signal: stopper.signal,
          onEvent: progress.event,
          onStderr: (line) => process.stderr.write(`${line}\n`),
        });
        progress.stop();
        if (!opts.json)
          console.log(
            `trained ${done.steps} steps (final loss ${done.loss?.toFixed(4) ?? 'n/a'}): ${done.out}`,
          );
      } catch (err) {
        progress.stop();
        if (err instanceof TrainerFailure) {
          if (err.type === 'interrupted') {
            throw Object.assign(new Error(`${err.message} (checkpoint ${err.lastCheckpoint ?? 'none'})`), {
              exitCode: 130,
            });
          }
          if (isNonRetryable(err.type)) throw new UsageError(err.message);
          throw Object.assign(new Error(`${err.type}: ${err.message}`), { exitCode: 1 });
        }
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
