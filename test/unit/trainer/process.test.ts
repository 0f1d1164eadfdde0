import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTorchPython } from '../../../src/toolchain';
import { TrainerFailure, runTrainer, trainerArgs, trainerPackageDir } from '../../../src/trainer/process';
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

  it('starts one process plainly, and several through torchrun (one node standalone, several with a rendezvous)', () => {
    const base = { mode: 'pretrain' as const, configFile: 'c.json', out: 'o', resume: true };
    const train = ['-m', 'llama_nas_trainer.train', '--mode', 'pretrain', '--config', 'c.json', '--out', 'o', '--resume'];
    expect(trainerArgs(base)).toEqual(train);
    expect(trainerArgs({ ...base, launch: { nprocPerNode: 1, nnodes: 1 } })).toEqual(train);
    expect(trainerArgs({ ...base, launch: { nprocPerNode: 8, nnodes: 1 } })).toEqual([
      '-m',
      'llama_nas_trainer.launch',
      '--nproc_per_node=8',
      '--max_restarts=0',
      '--standalone',
      ...train,
    ]);
    expect(
      trainerArgs({ ...base, launch: { nprocPerNode: 8, nnodes: 2, rdzvEndpoint: 'node0:29500', rdzvId: 'j', nodeRank: 1 } }),
    ).toEqual([
      '-m',
      'llama_nas_trainer.launch',
      '--nproc_per_node=8',
      '--max_restarts=0',
      '--nnodes=2',
      '--rdzv_backend=c10d',
      '--rdzv_endpoint=node0:29500',
      '--rdzv_id=j',
      '--node_rank=1',
      ...train,
    ]);
    expect(() => trainerArgs({ ...base, launch: { nprocPerNode: 8, nnodes: 2 } })).toThrow(/rendezvous endpoint/);
  });

  withTorch(
    `cancelling a 2-process job stops the whole process group: every rank checkpoints and exits${noTorch}`,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'trainer-group-'));
      let s = 7;
      const row = (): number[] =>
        Array.from({ length: 16 }, () => {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          return s % 64;
        });
      writeFileSync(
        join(dir, 'tokens.jsonl'),
        `${Array.from({ length: 64 }, () => JSON.stringify({ input_ids: row() })).join('\n')}\n`,
      );
      const architecture = { vocab_size: 64, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4 };
      const cfg = { mode: 'pretrain', architecture, data: { path: 'tokens.jsonl', format: 'tokens' }, max_steps: 1_000_000,
        batch_size: 4, grad_accum: 2, seq_len: 16, checkpoint_every: 1_000_000, threads: 1,
        // no launch given to runTrainer: it takes the config's
        nproc_per_node: 2 };
      writeFileSync(join(dir, 'cfg.json'), JSON.stringify(cfg));
      const out = join(dir, 'out');
      const stopper = new AbortController();
      const events: TrainerEvent[] = [];
      const run = runTrainer({
        python: python!,
        mode: 'pretrain',
        configFile: join(dir, 'cfg.json'),
        out,
        resume: false,
        signal: stopper.signal,
        killGraceMs: 120_000,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'step' && e.step === 3) stopper.abort();
        },
      });
      const failure = (await run.catch((e: unknown) => e)) as TrainerFailure;
      expect(failure).toBeInstanceOf(TrainerFailure);
      expect(failure.type).toBe('interrupted');
      const start = events.find((e) => e.type === 'start');
      expect(start).toMatchObject({ world_size: 2, strategy: 'ddp' });
      // rank 0 checkpointed where both ranks stopped, and nothing of the job is left running
      expect(failure.lastCheckpoint && existsSync(failure.lastCheckpoint)).toBe(true);
      const stillRunning = readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(out);
          } catch {
            return false;
          }
        });
      expect(stillRunning).toEqual([]);
      // rank 0 released the folder's lease on its way out, and a new trainer takes it at once
      expect(existsSync(join(out, '.trainer.lock'))).toBe(false);
      const probe = spawnSync(
        python!,
        ['-c', 'import sys\nfrom llama_nas_trainer.lease import Lease\nLease(sys.argv[1]).acquire(0).release()', join(out, '.trainer.lock')],
        { env: { ...process.env, PYTHONPATH: trainerPackageDir } },
      );
      expect(probe.stderr.toString()).toBe('');
      expect(probe.status).toBe(0);
    },
    180_000,
  );
});
