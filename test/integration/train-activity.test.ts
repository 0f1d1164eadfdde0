import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  WorkflowFailedError,
} from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { projectRoot } from '../../src/toolchain';
import type { TrainResult } from '../../activities/train';
import type { TrainWorkflowInput } from '../../workflows/train';
import { testClient, uniqueId, withWorkers } from '../helpers/temporal';

/**
 * The train activity with the real trainer on a real worker and the real dev server: the worker
 * process is SIGKILLed after the first checkpoint, a second worker picks up the retried attempt,
 * and the attempt resumes from the checkpoint instead of step 0.
 */
jest.setTimeout(600_000);

const WORKER_SCRIPT = `
require('tsx/cjs');
const { NativeConnection, Worker } = require('@temporalio/worker');
const activities = require(${JSON.stringify(join(projectRoot, 'activities'))});
(async () => {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: process.env.TRAIN_QUEUE,
    activities,
    maxConcurrentActivityTaskExecutions: 1,
  });
  process.stdout.write('worker-ready\\n');
  await worker.run();
})().catch((err) => { console.error(err); process.exit(1); });
`;

/** A worker process for the training queue, like `llama-nas worker --queues train`, on a queue of its own. */
async function startTrainWorker(queue: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', WORKER_SCRIPT], {
    cwd: projectRoot,
    env: { ...process.env, TRAIN_QUEUE: queue },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      seen += c;
      if (seen.includes('worker-ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with code ${code} before it was ready`)));
  });
  return child;
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function latestStep(out: string): number | undefined {
  const file = join(out, 'checkpoints', 'latest.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { step: number }).step;
}

/** Whether a trainer still holds its lease on OUT/.trainer.lock (released when it exits cleanly). */
function trainerHoldsLock(out: string): boolean {
  return existsSync(join(out, '.trainer.lock'));
}

/** A pre-tokenized corpus from a seeded LCG: pretraining needs no tokenizer then. */
function writeTokens(file: string, rows: number, length: number, vocab: number): void {
  let s = 12345;
  const next = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % vocab;
  };
  const lines = Array.from({ length: rows }, () =>
    JSON.stringify({ input_ids: Array.from({ length }, next) }),
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
}

describe('train activity on a real worker', () => {
  let dir: string;
  let connection: NativeConnection;
  const workflowQueue = uniqueId('train-wf');
  const trainQueue = uniqueId('train-act');
  const children: ChildProcess[] = [];
  const architecture = {
    vocab_size: 64,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    max_position_embeddings: 64,
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'train-activity-'));
    writeTokens(join(dir, 'tokens.jsonl'), 64, 16, architecture.vocab_size);
    connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await connection?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a train worker unless one of this block's is still running. */
  const ensureTrainWorker = async (): Promise<void> => {
    if (!children.some((c) => c.exitCode === null && c.signalCode === null))
      children.push(await startTrainWorker(trainQueue));
  };

  const workflowWorker = (): Promise<Worker> =>
    Worker.create({
      connection,
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      taskQueue: workflowQueue,
      workflowsPath: require.resolve('../../workflows/train'),
    });

  function pretrainConfig(name: string, extra: Record<string, unknown> = {}): string {
    const file = join(dir, `${name}.json`);
    const cfg = {
      mode: 'pretrain',
      architecture,
      data: { path: 'tokens.jsonl', format: 'tokens' },
      max_steps: 150,
      batch_size: 4,
      seq_len: 16,
      lr: 1e-3,
      checkpoint_every: 5,
      threads: 1,
      ...extra,
    };
    writeFileSync(file, JSON.stringify(cfg));
    return file;
  }

  it('resumes from the checkpoint after its worker is killed', async () => {
    const out = join(dir, 'out-killed');
    const input: TrainWorkflowInput = {
      request: { mode: 'pretrain', configFile: pretrainConfig('killed'), out },
      taskQueue: trainQueue,
      heartbeatTimeout: '10 seconds',
      maximumAttempts: 5,
    };
    const { client, close } = await testClient();
    try {
      const first = await startTrainWorker(trainQueue);
      children.push(first);
      const result = await withWorkers([await workflowWorker()], async () => {
        const handle = await client.workflow.start('trainWorkflow', {
          taskQueue: workflowQueue,
          workflowId: uniqueId('train-killed'),
          args: [input],
        });
        const killedAt = await waitFor('the first checkpoint', () => latestStep(out), 240_000);
        first.kill('SIGKILL');
        await new Promise<void>((r) =>
          first.exitCode !== null || first.signalCode !== null ? r() : first.once('exit', () => r()),
        );
        const second = await startTrainWorker(trainQueue);
        children.push(second);
        const r = (await handle.result()) as TrainResult;
        return { r, killedAt };
      });
      expect(result.r.attempt).toBeGreaterThanOrEqual(2);
      expect(result.r.steps).toBe(150);
      // resumed from a checkpoint written by the killed attempt, not from step 0
      expect(result.r.resumedFromStep).toBeGreaterThanOrEqual(result.killedAt);
      expect(result.r.resumedFromStep).toBeGreaterThan(0);
      expect(result.r.resumedFromStep).toBeLessThan(150);
      for (const f of ['config.json', 'model.safetensors', 'train_result.json'])
        expect(existsSync(join(out, f))).toBe(true);

      // idempotent: running the same request again returns the recorded result without training
      const again = await withWorkers([await workflowWorker()], () =>
        client.workflow.execute('trainWorkflow', {
          taskQueue: workflowQueue,
          workflowId: uniqueId('train-again'),
          args: [input],
        }),
      );
      expect((again as TrainResult).steps).toBe(150);
      expect((again as TrainResult).resumedFromStep).toBe(150);
    } finally {
      await close();
    }
  });

  it('runs a 2-process job (torchrun, DDP over gloo) from the config’s nproc_per_node', async () => {
    const out = join(dir, 'out-ddp');
    const input: TrainWorkflowInput = {
      request: {
        mode: 'pretrain',
        configFile: pretrainConfig('ddp', { max_steps: 12, grad_accum: 2, nproc_per_node: 2 }),
        out,
      },
      taskQueue: trainQueue,
      heartbeatTimeout: '30 seconds',
    };
    const { client, close } = await testClient();
    try {
      await ensureTrainWorker();
      const r = (await withWorkers([await workflowWorker()], () =>
        client.workflow.execute('trainWorkflow', {
          taskQueue: workflowQueue,
          workflowId: uniqueId('train-ddp'),
          args: [input],
        }),
      )) as TrainResult;
      expect(r.processes).toBe(2);
      expect(r.steps).toBe(12);
      expect(latestStep(out)).toBe(12);
      for (const f of ['config.json', 'model.safetensors', 'train_result.json'])
        expect(existsSync(join(out, f))).toBe(true);
    } finally {
      await close();
    }
  });

  it('fails at once, without retrying, on malformed data, with the trainer’s message and type', async () => {
    writeFileSync(join(dir, 'bad.jsonl'), '{"input_ids": [1, 2, 3]}\n{"input_ids": [1, 2, 999]}\n');
    const input: TrainWorkflowInput = {
      request: {
        mode: 'pretrain',
        configFile: pretrainConfig('bad', { data: { path: 'bad.jsonl', format: 'tokens' } }),
        out: join(dir, 'out-bad'),
      },
      taskQueue: trainQueue,
      heartbeatTimeout: '10 seconds',
      maximumAttempts: 5,
    };
    const { client, close } = await testClient();
    try {
      await ensureTrainWorker();
      const err = await withWorkers([await workflowWorker()], () =>
        client.workflow
          .execute('trainWorkflow', {
            taskQueue: workflowQueue,
            workflowId: uniqueId('train-bad'),
            args: [input],
          })
          .catch((e: unknown) => e),
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const activity = (err as WorkflowFailedError).cause;
      expect(activity).toBeInstanceOf(ActivityFailure);
      const app = (activity as ActivityFailure).cause as ApplicationFailure;
      expect(app).toBeInstanceOf(ApplicationFailure);
      expect(app.type).toBe('bad_data');
      expect(app.nonRetryable).toBe(true);
      expect(app.message).toMatch(/bad\.jsonl:2: .*999/);
    } finally {
      await close();
    }
  });

  it('stops the trainer when the workflow is cancelled', async () => {
    const out = join(dir, 'out-cancelled');
    const input: TrainWorkflowInput = {
      request: { mode: 'pretrain', configFile: pretrainConfig('cancelled', { max_steps: 100_000 }), out },
      taskQueue: trainQueue,
      heartbeatTimeout: '10 seconds',
    };
    const { client, close } = await testClient();
    try {
      await ensureTrainWorker();
      const err = await withWorkers([await workflowWorker()], async () => {
        const handle = await client.workflow.start('trainWorkflow', {
          taskQueue: workflowQueue,
          workflowId: uniqueId('train-cancel'),
          args: [input],
        });
        await waitFor('the first checkpoint', () => latestStep(out), 240_000);
        await handle.cancel();
        return await handle.result().catch((e: unknown) => e);
      });
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      // the trainer got SIGTERM at the next heartbeat, checkpointed and exited: its lock on `out` is released
      await waitFor('the trainer to exit', () => (trainerHoldsLock(out) ? undefined : true), 120_000);
      const stopped = latestStep(out)!;
      expect(stopped).toBeLessThan(100_000);
      await new Promise((r) => setTimeout(r, 2_000));
      expect(latestStep(out)).toBe(stopped);
      expect(existsSync(join(out, 'train_result.json'))).toBe(false);
    } finally {
      await close();
    }
  });
});
