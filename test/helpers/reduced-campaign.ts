import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CampaignConfigInput } from '../../config/campaign';
import { ensureEmbeddedWorld, loadWorldConfigs, type EmbeddedWorld } from '../../src/world/embedded';

const BIN = resolve(__dirname, '../../bin/llama-nas.js');

/** A reduced embedded world with a 4-layer base model, pretrained for a few steps (cached across runs). */
export async function reducedWorld(): Promise<EmbeddedWorld> {
  const configs = loadWorldConfigs();
  return ensureEmbeddedWorld({
    seed: 1,
    scale: 'reduced',
    cacheDir: join(tmpdir(), 'llama-nas-test-worlds'),
    configs: {
      model: {
        ...configs.model,
        architecture: {
          ...configs.model.architecture,
          num_hidden_layers: 4,
          hidden_size: 32,
          intermediate_size: 64,
          num_attention_heads: 2,
        },
        search_space: { layers: [3, 4], intermediate: [32, 64] },
      },
      pretrain: { ...configs.pretrain, max_steps: 40, checkpoint_every: 20 },
      instatune: { ...configs.instatune, max_steps: 20 },
    },
  });
}

export type TestBackend = 'onnx' | 'torch';

/**
 * A real campaign on the reduced world: InstaTune for a few steps, two tasks, 12 evaluations
 * each, scored by ONNX Runtime or by the PyTorch scoring process (one intra-op thread).
 */
export function reducedCampaign(
  world: EmbeddedWorld,
  name: string,
  outDir: string,
  backend: TestBackend = 'onnx',
): CampaignConfigInput {
  return {
    name,
    baseModel: world.baseModelDir,
    outDir,
    finetune: {
      data: world.instructionData,
      trainer: { ...world.configs.instatune, max_steps: 30, checkpoint_every: 5, log_every: 1 },
    },
    tasks: [
      { name: 'arc_easy', data: world.tasks.arc_easy, limit: 24 },
      { name: 'winogrande', data: world.tasks.winogrande, limit: 24 },
    ],
    searchSpace: world.searchSpace,
    linas: { population: 6, evaluations: 12, predictorEvaluations: 300, seed: 0 },
    quantization: ['int8'],
    maxConcurrentEvaluations: 2,
    heartbeatTimeouts: { trainSeconds: 8, evalSeconds: 8 },
    ...(backend === 'torch' ? { evaluation: { backend: 'torch' as const, threads: 1 } } : {}),
  };
}

/** A worker in its own process (so that it can be SIGKILLed), on its own state folder. */
export function startWorkerProcess(home: string, address: string): ChildProcess {
  mkdirSync(home, { recursive: true });
  const log = openSync(join(home, 'worker.log'), 'a');
  try {
    return spawn(process.execPath, [BIN, 'worker', '--eval-concurrency', '2'], {
      env: { ...process.env, LLAMA_NAS_HOME: home, TEMPORAL_ADDRESS: address },
      stdio: ['ignore', log, log],
    });
  } finally {
    closeSync(log);
  }
}

export function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  return exited;
}

export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function trainerCheckpoints(home: string): string[] {
  const root = join(home, 'supernets');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((run) => {
    const dir = join(root, run, 'checkpoints');
    return existsSync(dir) ? readdirSync(dir).filter((f) => !f.endsWith('.tmp')) : [];
  });
}
