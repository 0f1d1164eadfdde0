import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTorchPython } from '../../../src/toolchain';
import { TrainerFailure, runTrainer } from '../../../src/trainer/process';
import type { TrainerEvent } from '../../../src/trainer/protocol';

const python = findTorchPython();
// the trainer imports torch before it reads its config: without such an interpreter this test cannot run
const withTorch = python ? it : it.skip;
const noTorch = python ? '' : ' (skipped: no Python here imports torch; scripts/provision.sh installs it)';

/** The real trainer, on inputs it must refuse before training: fast, and no torch math involved. */
describe('runTrainer', () => {
  withTorch(`turns the trainer’s error line and exit code into a typed failure${noTorch}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trainer-proc-'));
    writeFileSync(join(dir, 'alpaca.json'), '[{"instruction": "x", "output": "y"}]');
    writeFileSync(
      join(dir, 'cfg.json'),
      JSON.stringify({ mode: 'instatune', model: 'missing-model', data: 'alpaca.json', search_space: { layers: [1], intermediate: [4] } }),
    );
    const events: TrainerEvent[] = [];
    const run = runTrainer({
      python: python!,
      mode: 'instatune',
      configFile: join(dir, 'cfg.json'),
      out: join(dir, 'out'),
      resume: true,
      onEvent: (e) => events.push(e),
    });
    await expect(run).rejects.toBeInstanceOf(TrainerFailure);
    const failure = (await run.catch((e: unknown) => e)) as TrainerFailure;
    expect(failure.type).toBe('bad_config');
    expect(failure.exitCode).toBe(2);
    expect(failure.message).toMatch(/missing-model/);
    expect(events.map((e) => e.type)).toEqual(['bad_config']);
  });

  it('reports a missing interpreter as a failure, not a crash', async () => {
    const run = runTrainer({ python: '/nonexistent/python3', mode: 'pretrain', configFile: 'x.json', out: tmpdir(), resume: false });
    await expect(run).rejects.toThrow(/cannot start/);
  });
});
