import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { TaskName } from '../eval/types';
import { writeJsonAtomic } from '../fsutil';
import { projectRoot, requireTorchPython, stateDir } from '../toolchain';
import { parseTrainConfig, runTrainer, type TrainerEvent } from '../trainer';
import {
  CORPUS_FILE,
  GENERATOR_VERSION,
  INSTRUCTIONS_FILE,
  MANIFEST_FILE,
  TASK_PATHS,
  TOKENIZER_DIR,
  generateWorld,
} from './generate';
import { FULL_SCALE, REDUCED_SCALE, type WorldScale } from './world';
import { zodErrorText } from '../zod-error';

/** The default seed of the embedded world (the demo's and the campaign's). */
export const DEFAULT_WORLD_SEED = 1;

const positiveInt = z.number().int().positive();

const ModelFileSchema = z.strictObject({
  description: z.string().optional(),
  architecture: z.looseObject({
    hidden_size: positiveInt,
    intermediate_size: positiveInt,
    num_hidden_layers: positiveInt,
    num_attention_heads: positiveInt,
  }),
  search_space: z.strictObject({
    layers: z.array(positiveInt).min(1),
    intermediate: z.array(positiveInt).min(1),
  }),
});
export type WorldModelFile = z.infer<typeof ModelFileSchema>;

/** Trainer fields the world's training files may set (data, model, tokenizer and architecture are filled in here). */
const TrainingFileSchema = z
  .looseObject({ description: z.string().optional() })
  .refine(
    (o) => !['data', 'model', 'tokenizer', 'architecture', 'mode', 'search_space'].some((k) => k in o),
    'data, model, tokenizer, architecture, mode and search_space are set by the embedded world, not its config file',
  );

export interface WorldConfigs {
  model: WorldModelFile;
  pretrain: Record<string, unknown>;
  instatune: Record<string, unknown>;
}

export const WORLD_CONFIG_DIR = join(projectRoot, 'config', 'world');

function readJson<T>(file: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(`${file}: ${zodErrorText(parsed.error)}`);
  return parsed.data;
}

const ReducedFileSchema = z.strictObject({
  description: z.string().optional(),
  architecture: z.record(z.string(), z.unknown()).optional(),
  search_space: ModelFileSchema.shape.search_space.optional(),
  pretrain: z.record(z.string(), z.unknown()).optional(),
  instatune: z.record(z.string(), z.unknown()).optional(),
});

/**
 * The base model and training configs in config/world/ (or another folder with the same files);
 * `reduced` applies reduced.json's overrides (a smaller model for the reduced world).
 */
export function loadWorldConfigs(dir: string = WORLD_CONFIG_DIR, reduced = false): WorldConfigs {
  const configs: WorldConfigs = {
    model: readJson(join(dir, 'model.json'), ModelFileSchema),
    pretrain: stripDescription(readJson(join(dir, 'pretrain.json'), TrainingFileSchema)),
    instatune: stripDescription(readJson(join(dir, 'instatune.json'), TrainingFileSchema)),
  };
  if (!reduced) return configs;
  const o = readJson(join(dir, 'reduced.json'), ReducedFileSchema);
  return {
    model: {
      ...configs.model,
      architecture: { ...configs.model.architecture, ...o.architecture },
      search_space: o.search_space ?? configs.model.search_space,
    },
    pretrain: { ...configs.pretrain, ...o.pretrain },
    instatune: { ...configs.instatune, ...o.instatune },
  };
}

function stripDescription(o: Record<string, unknown>): Record<string, unknown> {
  const { description: _description, ...rest } = o;
  return rest;
}

export type WorldStage = 'generate' | 'pretrain' | 'instatune';

export interface WorldProgress {
  stage: WorldStage;
  message: string;
  step?: number;
  totalSteps?: number;
  loss?: number;
}

export interface EnsureWorldOptions {
  seed?: number;
  /** 'full' (the default) or 'reduced' (tests), or an explicit scale. */
  scale?: 'full' | 'reduced' | WorldScale;
  /** Where the cache lives (default stateDir()/world). */
  cacheDir?: string;
  /** Override of the configs in config/world/ (tests shorten training). */
  configs?: WorldConfigs;
  onProgress?: (p: WorldProgress) => void;
  signal?: AbortSignal;
}

export interface EmbeddedWorld {
  seed: number;
  /** Content hash of generator version, seed, scale and configs: the cache folder's name. */
  key: string;
  dir: string;
  /** The generated files (corpus, instructions, benchmarks, tokenizer). */
  dataDir: string;
  tokenizerDir: string;
  corpus: string;
  /** The Alpaca-format instruction set (for the campaign's InstaTune stage). */
  instructionData: string;
  /** The pre-trained base model (an HF folder). */
  baseModelDir: string;
  /** Each task's data path in its original format, as the evaluator's loaders take it. */
  tasks: Record<TaskName, string>;
  searchSpace: { layerCounts: number[]; widths: number[] };
  /** Trainer fields for InstaTune on this world (config/world/instatune.json), for the campaign to merge under its own. */
  instatuneDefaults: Record<string, unknown>;
  configs: WorldConfigs;
  /** Seconds each stage took when it ran (cached stages keep the time of the run that built them). */
  timings: { generateSeconds: number; pretrainSeconds: number };
}

/** Written last: a world folder with it holds a complete pre-trained base model. */
const READY_FILE = 'ready.json';

const ReadySchema = z.strictObject({
  key: z.string(),
  seed: z.number().int(),
  generateSeconds: z.number(),
  pretrainSeconds: z.number(),
});

function resolveScale(scale: EnsureWorldOptions['scale']): WorldScale {
  if (scale === undefined || scale === 'full') return FULL_SCALE;
  if (scale === 'reduced') return REDUCED_SCALE;
  return scale;
}

function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/**
 * One process at a time builds a world folder: an exclusive lock file holding the pid; a lock
 * whose process is gone is taken over.
 */
async function withLock<T>(file: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      let alive = false;
      try {
        if (Number.isInteger(pid) && pid > 0) {
          process.kill(pid, 0);
          alive = true;
        }
      } catch {
        alive = false;
      }
      if (!alive) {
        rmSync(file, { force: true });
        continue;
      }
      if (signal?.aborted) throw new Error('aborted while waiting for another process building the world');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}

function trainerProgress(stage: WorldStage, onProgress?: (p: WorldProgress) => void) {
  return (e: TrainerEvent): void => {
    if (!onProgress) return;
    if (e.type === 'step') {
      onProgress({
        stage,
        step: e.step,
        totalSteps: e.total_steps,
        loss: e.loss,
        message: `${stage} step ${e.step}/${e.total_steps} loss ${e.loss.toFixed(3)}`,
      });
    } else if (e.type === 'start') {
      onProgress({
        stage,
        step: e.step,
        totalSteps: e.total_steps,
        message: `${stage}: ${e.total_steps} steps, ${e.parameters} parameters`,
      });
    }
  };
}

function vocabSize(tokenizerDir: string): number {
  const spec = JSON.parse(readFileSync(join(tokenizerDir, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number> };
  };
  return Math.max(...Object.values(spec.model.vocab)) + 1;
}

/** Where the world for these options lives and what it holds, whether or not it is built yet. */
function describeWorld(opts: EnsureWorldOptions): {
  world: (timings: EmbeddedWorld['timings']) => EmbeddedWorld;
  cached: () => EmbeddedWorld | undefined;
} {
  const seed = opts.seed ?? DEFAULT_WORLD_SEED;
  const scale = resolveScale(opts.scale);
  const configs = opts.configs ?? loadWorldConfigs(WORLD_CONFIG_DIR, opts.scale === 'reduced');
  const key = hashOf({
    generator: GENERATOR_VERSION,
    seed,
    scale,
    model: configs.model.architecture,
    pretrain: configs.pretrain,
  });
  const dir = join(opts.cacheDir ?? join(stateDir(), 'world'), key);
  const world = (timings: EmbeddedWorld['timings']): EmbeddedWorld => ({
    seed,
    key,
    dir,
    dataDir: join(dir, 'data'),
    tokenizerDir: join(dir, 'data', TOKENIZER_DIR),
    corpus: join(dir, 'data', CORPUS_FILE),
    instructionData: join(dir, 'data', INSTRUCTIONS_FILE),
    baseModelDir: join(dir, 'base-model'),
    tasks: Object.fromEntries(
      Object.entries(TASK_PATHS).map(([t, p]) => [t, join(dir, 'data', p)]),
    ) as Record<TaskName, string>,
    searchSpace: {
      layerCounts: [...configs.model.search_space.layers].sort((a, b) => a - b),
      widths: [...configs.model.search_space.intermediate].sort((a, b) => a - b),
    },
    instatuneDefaults: configs.instatune,
    configs,
    timings,
  });
  const readyFile = join(dir, READY_FILE);
  const cached = (): EmbeddedWorld | undefined => {
    if (!existsSync(readyFile)) return undefined;
    const r = ReadySchema.parse(JSON.parse(readFileSync(readyFile, 'utf8')));
    return world({ generateSeconds: r.generateSeconds, pretrainSeconds: r.pretrainSeconds });
  };
  return { world, cached };
}

/** The embedded world for these options if it is built (never builds it). */
export function findEmbeddedWorld(opts: EnsureWorldOptions = {}): EmbeddedWorld | undefined {
  return describeWorld(opts).cached();
}

/**
 * The embedded default: generates the world for `seed` and pre-trains the base model on its
 * corpus, cached under stateDir()/world/<key> by a hash of generator version, seed, scale and
 * configs, so a second call returns at once. The elastic fine-tuning is the campaign's InstaTune
 * stage (fineTuneEmbeddedWorld runs it for calibration).
 */
export async function ensureEmbeddedWorld(opts: EnsureWorldOptions = {}): Promise<EmbeddedWorld> {
  const { world, cached } = describeWorld(opts);
  const w = world({ generateSeconds: 0, pretrainSeconds: 0 });
  const { seed, key, dir, configs } = w;
  const hit = cached();
  if (hit) {
    opts.onProgress?.({
      stage: 'pretrain',
      message: `embedded world ${key} (seed ${seed}) found in the cache`,
    });
    return hit;
  }
  mkdirSync(dir, { recursive: true });
  return withLock(
    join(dir, '.lock'),
    async () => {
      const again = cached();
      if (again) return again;

      let generateSeconds = 0;
      if (!existsSync(join(w.dataDir, MANIFEST_FILE))) {
        opts.onProgress?.({ stage: 'generate', message: `generating the world (seed ${seed})` });
        const t0 = performance.now();
        const tmp = `${w.dataDir}.tmp-${process.pid}`;
        rmSync(tmp, { recursive: true, force: true });
        generateWorld(tmp, { seed, scale: resolveScale(opts.scale) });
        rmSync(w.dataDir, { recursive: true, force: true });
        renameSync(tmp, w.dataDir);
        generateSeconds = (performance.now() - t0) / 1000;
      }

      const configFile = join(dir, 'pretrain.config.json');
      const trainConfig = {
        mode: 'pretrain',
        data: { path: w.corpus, format: 'jsonl' },
        tokenizer: w.tokenizerDir,
        architecture: {
          ...configs.model.architecture,
          vocab_size: vocabSize(w.tokenizerDir),
          bos_token_id: 1,
          eos_token_id: 2,
          pad_token_id: 3,
        },
        ...configs.pretrain,
      };
      parseTrainConfig(trainConfig, configFile, 'pretrain');
      writeJsonAtomic(configFile, trainConfig);
      const t1 = performance.now();
      await runTrainer({
        python: requireTorchPython(),
        mode: 'pretrain',
        configFile,
        out: w.baseModelDir,
        resume: true,
        onEvent: trainerProgress('pretrain', opts.onProgress),
        signal: opts.signal,
      });
      const pretrainSeconds = (performance.now() - t1) / 1000;
      writeJsonAtomic(join(dir, READY_FILE), { key, seed, generateSeconds, pretrainSeconds });
      return world({ generateSeconds, pretrainSeconds });
    },
    opts.signal,
  );
}

export interface FineTuneOptions {
  onProgress?: (p: WorldProgress) => void;
  signal?: AbortSignal;
}

function fineTunePaths(w: EmbeddedWorld): { key: string; out: string; doneFile: string } {
  const key = hashOf({ instatune: w.configs.instatune, space: w.configs.model.search_space });
  return { key, out: join(w.dir, `supernet-${key}`), doneFile: join(w.dir, `instatune-${key}.done.json`) };
}

/** The world's fine-tuned super-network if fineTuneEmbeddedWorld has built it (never builds it). */
export function findFineTunedWorld(w: EmbeddedWorld): string | undefined {
  const { out, doneFile } = fineTunePaths(w);
  return existsSync(doneFile) ? out : undefined;
}

/**
 * Elastic fine-tuning (InstaTune) of the world's base model on its instruction set with the
 * config in config/world/instatune.json; cached beside the base model. For calibration: the
 * campaign runs its own InstaTune stage.
 */
export async function fineTuneEmbeddedWorld(
  w: EmbeddedWorld,
  opts: FineTuneOptions = {},
): Promise<{ superNetworkDir: string; seconds: number; cached: boolean }> {
  const { key, out, doneFile } = fineTunePaths(w);
  if (existsSync(doneFile)) {
    const { seconds } = z
      .strictObject({ seconds: z.number() })
      .parse(JSON.parse(readFileSync(doneFile, 'utf8')));
    return { superNetworkDir: out, seconds, cached: true };
  }
  const configFile = join(w.dir, `instatune-${key}.config.json`);
  const trainConfig = {
    mode: 'instatune',
    model: w.baseModelDir,
    data: { path: w.instructionData, format: 'alpaca' },
    search_space: w.configs.model.search_space,
    ...w.configs.instatune,
  };
  parseTrainConfig(trainConfig, configFile, 'instatune');
  writeJsonAtomic(configFile, trainConfig);
  const t0 = performance.now();
  await runTrainer({
    python: requireTorchPython(),
    mode: 'instatune',
    configFile,
    out,
    resume: true,
    onEvent: trainerProgress('instatune', opts.onProgress),
    signal: opts.signal,
  });
  const seconds = (performance.now() - t0) / 1000;
  writeJsonAtomic(doneFile, { seconds });
  return { superNetworkDir: out, seconds, cached: false };
}
