import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openCheckpoint } from '../../src/model/checkpoint';
import { describeRealModel, realModelAndTempDir } from '../helpers/real-model';
import { projectRoot, requireTorchPython, stateDir } from '../../src/toolchain';

/**
 * InstaTune of SmolLM2-135M (imported from its GGUF) with the real trainer, on Alpaca-format
 * data through its byte-level BPE tokenizer: SIGKILLed after its first checkpoint, then resumed
 * from that checkpoint to the end. Short: 6 steps of batch 2, sequences of 96 tokens.
 */
jest.setTimeout(900_000);

interface TrainerEvent {
  type: string;
  step?: number;
  steps?: number;
  resumed_from?: string | null;
  loss?: number;
}

function alpaca(n: number): object[] {
  const facts = [
    ['France', 'Paris'],
    ['Japan', 'Tokyo'],
    ['Italy', 'Rome'],
    ['Egypt', 'Cairo'],
    ['Kenya', 'Nairobi'],
    ['Peru', 'Lima'],
  ];
  return Array.from({ length: n }, (_, i) => {
    const [country, capital] = facts[i % facts.length]!;
    return i % 2
      ? {
          instruction: `Name the capital of ${country}.`,
          input: '',
          output: `The capital of ${country} is ${capital}.`,
        }
      : {
          instruction: 'Answer the question.',
          input: `What is the capital of ${country}?`,
          output: `${capital}.`,
        };
  });
}

/** Runs the trainer; `onEvent` may return true to SIGKILL it. Resolves with its events and how it ended. */
function runTrainer(
  args: string[],
  onEvent: (e: TrainerEvent) => boolean = () => false,
): Promise<{ events: TrainerEvent[]; code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(requireTorchPython(), ['-m', 'llama_nas_trainer.train', ...args], {
    cwd: join(projectRoot, 'trainer'),
    // <state>/pylib holds `tokenizers` (provisioning installs it), which the trainer's BPE needs
    env: {
      ...process.env,
      PYTHONUNBUFFERED: '1',
      PYTHONPATH: [join(projectRoot, 'trainer'), join(stateDir(), 'pylib')].join(':'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const events: TrainerEvent[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const e = JSON.parse(line) as TrainerEvent;
    events.push(e);
    if (onEvent(e)) child.kill('SIGKILL');
  });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ events, code, signal })));
}

describeRealModel('SmolLM2-135M (imported from GGUF): InstaTune', () => {
  const real = realModelAndTempDir('real-train-');

  it('fine-tunes on Alpaca data with its BPE tokenizer, is killed and resumes from its checkpoint', async () => {
    const { model, dir } = real;
    writeFileSync(join(dir, 'alpaca.json'), JSON.stringify(alpaca(24)));
    const cfg = join(dir, 'instatune.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        mode: 'instatune',
        model: model.dir,
        data: { path: 'alpaca.json', format: 'alpaca' },
        search_space: { layers: [24, 30], intermediate: [768, 1536] },
        max_steps: 6,
        batch_size: 2,
        seq_len: 96,
        lr: 1e-5,
        checkpoint_every: 2,
        keep_checkpoints: 1,
        threads: 2,
        seed: 3,
      }),
    );
    const out = join(dir, 'out');
    const first = await runTrainer(['--config', cfg, '--out', out], (e) => e.type === 'checkpoint');
    expect({
      code: first.code,
      signal: first.signal,
      last: first.code === null ? undefined : first.events.at(-1),
    }).toEqual({
      code: null,
      signal: 'SIGKILL',
      last: undefined,
    });
    const killedAt = first.events.find((e) => e.type === 'checkpoint')!.step!;
    expect(killedAt).toBeGreaterThan(0);
    expect(existsSync(join(out, 'train_result.json'))).toBe(false);

    const second = await runTrainer(['--config', cfg, '--out', out, '--resume']);
    expect(second.code).toBe(0);
    const start = second.events.find((e) => e.type === 'start')!;
    expect(start.step).toBeGreaterThanOrEqual(killedAt);
    expect(start.resumed_from).toBeTruthy();
    const done = second.events.find((e) => e.type === 'done')!;
    expect(done.steps).toBe(6);
    const losses = [...first.events, ...second.events].filter((e) => e.type === 'step').map((e) => e.loss!);
    expect(losses.length).toBeGreaterThan(0);
    // every loss finite; a pre-trained model on plain English: its best steps far below
    // ln(49152) = 10.8 nats per token (sampled sub-networks, untuned yet, are worse: 6-7 seen)
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    expect(Math.min(...losses)).toBeLessThan(4);
    const result = JSON.parse(readFileSync(join(out, 'train_result.json'), 'utf8')) as { steps: number };
    expect(result.steps).toBe(6);
    const tuned = await openCheckpoint(out);
    expect(tuned.config.numLayers).toBe(30);
    console.log(
      `InstaTune: killed at step ${killedAt}, resumed from step ${start.step}; losses ${losses.map((l) => l.toFixed(2)).join(' ')}`,
    );
  });
});
