import { z } from 'zod';
import { TASK_NAMES, type TaskName } from '../src/eval/types';
import { TASK_QUEUES } from '../src/queues';
import { searchSpaceSchema } from '../src/search/space';
import { zodErrorText } from '../src/zod-error';

export { TASK_NAMES, type TaskName };

const positiveInt = z.number().int().positive();

export const taskConfigSchema = z
  .object({
    name: z.enum(TASK_NAMES),
    /** Data file or folder in one of the layouts of src/eval/README.md; omitted for the embedded world. */
    data: z.string().min(1).optional(),
    /** Few-shot examples (the task's default when omitted). */
    shots: z.number().int().min(0).optional(),
    /** Evaluate only the first N questions. */
    limit: positiveInt.optional(),
    /** Evaluate a seeded random fraction of the questions. */
    fraction: z.number().gt(0).max(1).optional(),
  })
  .strict();

export const campaignConfigSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only'),
    /** A Hugging Face LLaMA folder, or "embedded" for the generated world and its base model. */
    baseModel: z.string().min(1),
    /** Folder for the campaign's artifacts; default <LLAMA_NAS_HOME>/campaigns/<name>. */
    outDir: z.string().min(1).optional(),
    /** Seed of the embedded world (used when baseModel is "embedded"). */
    worldSeed: z.number().int().min(0).default(1),
    /** Size of the embedded world: the full demo world, or a reduced one for quick tests. */
    worldScale: z.enum(['full', 'reduced']).default('full'),
    finetune: z
      .object({
        /** Skip InstaTune and search the base model's sub-networks as they are. */
        skip: z.boolean().default(false),
        /** An already fine-tuned super-network to reuse instead of training. */
        superNetwork: z.string().min(1).optional(),
        /** Alpaca-format instruction data (default for the embedded world: its generated set). */
        data: z.string().min(1).optional(),
        /** Trainer hyper-parameters (trainer config fields), merged over the defaults. */
        trainer: z.record(z.string(), z.unknown()).default({}),
      })
      .strict()
      .default({ skip: false, trainer: {} }),
    tasks: z.array(taskConfigSchema).min(1),
    /** Default: the base model's own space, {0.75, 0.875, 1} x layers and {1/2, 1} x intermediate. */
    searchSpace: searchSpaceSchema.optional(),
    linas: z
      .object({
        population: positiveInt.default(50),
        evaluations: positiveInt.default(250),
        predictorEvaluations: positiveInt.default(20_000),
        seed: z.number().int().min(0).default(0),
      })
      .strict()
      .default({ population: 50, evaluations: 250, predictorEvaluations: 20_000, seed: 0 }),
    /** Objectives of the search: accuracy against model size or throughput. */
    objectives: z
      .tuple([z.enum(['size', 'throughput']), z.literal('accuracy')])
      .default(['size', 'accuracy']),
    constraints: z.object({ maxSizeGiB: z.number().positive().optional() }).strict().default({}),
    evaluation: z
      .object({
        bos: z.boolean().default(false),
        /** Intra-op threads of an evaluation session. */
        threads: positiveInt.optional(),
        /** Size objective's bytes per parameter (the paper reports FP16). */
        sizeDtype: z.enum(['f32', 'f16', 'bf16']).default('f16'),
        /** Scoring engine: ONNX Runtime on CPU (float32), or PyTorch (src/eval/torch-backend.ts). */
        backend: z.enum(['onnx', 'torch']).default('onnx'),
        /** torch device of the evaluations ('cpu', 'cuda', 'cuda:1'); a worker's --device overrides it. */
        device: z
          .string()
          .regex(/^(cpu|cuda(:\d+)?)$/, 'expected cpu, cuda or cuda:N')
          .default('cpu'),
        /** torch weights and activations: float32 (CPU), bfloat16 or float16 (CUDA). */
        dtype: z.enum(['float32', 'float16', 'bfloat16']).default('float32'),
      })
      .strict()
      .refine((e) => e.backend === 'torch' || (e.device === 'cpu' && e.dtype === 'float32'), {
        message: 'the onnx backend runs on cpu in float32 (device and dtype apply to backend "torch")',
      })
      .default({ bos: false, sizeDtype: 'f16', backend: 'onnx', device: 'cpu', dtype: 'float32' }),
    /** Quantizations applied to each task's front, then re-evaluated. */
    quantization: z.array(z.enum(['int8', 'int4'])).default(['int8']),
    /** Evaluations in flight at once per search. */
    maxConcurrentEvaluations: positiveInt.default(2),
    queues: z
      .object({
        main: z.string().default(TASK_QUEUES.main),
        train: z.string().default(TASK_QUEUES.train),
        eval: z.string().default(TASK_QUEUES.eval),
      })
      .strict()
      .default({ ...TASK_QUEUES }),
    /** How soon a silent activity is taken for dead (a lost worker or GPU) and retried elsewhere. */
    heartbeatTimeouts: z
      .object({ trainSeconds: positiveInt.default(300), evalSeconds: positiveInt.default(120) })
      .strict()
      .default({ trainSeconds: 300, evalSeconds: 120 }),
    /** For tests only: make this fraction of activity attempts fail as a device failure would. */
    faultInjection: z
      .object({ failureRate: z.number().min(0).max(0.9), seed: z.number().int().default(0) })
      .strict()
      .optional(),
  })
  .strict();

export type CampaignConfigInput = z.input<typeof campaignConfigSchema>;
export type CampaignConfig = z.output<typeof campaignConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** The command line's exit code: the user's to fix. */
  readonly exitCode = 2;
}

/** Parses a campaign config, or throws a ConfigError naming every bad field. */
export function parseCampaignConfig(input: unknown, source = 'campaign config'): CampaignConfig {
  const parsed = campaignConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(`${source}: ${zodErrorText(parsed.error)}`);
  const config = parsed.data;
  const seen = new Set<string>();
  for (const [i, task] of config.tasks.entries()) {
    if (seen.has(task.name))
      throw new ConfigError(`${source}: field tasks.${i}.name: task ${task.name} is listed twice`);
    seen.add(task.name);
    if (config.baseModel !== 'embedded' && !task.data) {
      throw new ConfigError(
        `${source}: field tasks.${i}.data: a data file is required unless baseModel is "embedded"`,
      );
    }
  }
  if (config.linas.evaluations < config.linas.population) {
    throw new ConfigError(`${source}: field linas.evaluations: must be at least linas.population`);
  }
  return config;
}
