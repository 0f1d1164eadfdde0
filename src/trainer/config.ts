import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { zodErrorText } from '../zod-error';

/**
 * The trainer's configuration (a JSON file). The Python trainer validates the same object
 * (trainer/llama_nas_trainer/config.py); this schema lets the CLI and the activity reject a bad
 * config before a Python process starts, with an error naming the field.
 */
export class TrainConfigError extends Error {
  override name = 'ConfigError';
}

export const TRAIN_MODES = ['pretrain', 'instatune'] as const;
export type TrainMode = (typeof TRAIN_MODES)[number];

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const optionList = z
  .array(positiveInt)
  .min(1)
  .transform((v) => [...new Set(v)].sort((a, b) => a - b));

/** The elastic search space InstaTune samples sub-networks from. */
export const SearchSpaceSchema = z.strictObject({
  layers: optionList,
  intermediate: optionList,
});

const DataSchema = z.union([
  z.string().min(1),
  z.strictObject({
    path: z.string().min(1),
    format: z.enum(['text', 'jsonl', 'alpaca', 'tokens']).optional(),
  }),
]);

export const TrainConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    description: z.string().optional(),
    mode: z.enum(TRAIN_MODES).optional(),
    /** An HF folder to start from (required for instatune). */
    model: z.string().min(1).optional(),
    /** LlamaConfig fields, to pretrain from scratch. */
    architecture: z.looseObject({
      vocab_size: positiveInt,
      hidden_size: positiveInt,
      intermediate_size: positiveInt,
      num_hidden_layers: positiveInt,
      num_attention_heads: positiveInt,
    }).optional(),
    tokenizer: z.string().min(1).optional(),
    data: DataSchema,
    search_space: SearchSpaceSchema.optional(),
    epochs: z.number().positive().optional(),
    max_steps: positiveInt.nullish(),
    lr: z.number().positive().optional(),
    schedule: z.enum(['cosine', 'linear', 'constant']).optional(),
    warmup_steps: nonNegativeInt.optional(),
    min_lr_ratio: z.number().min(0).max(1).optional(),
    weight_decay: z.number().min(0).optional(),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).optional(),
    eps: z.number().positive().optional(),
    grad_clip: z.number().positive().nullish(),
    batch_size: positiveInt.optional(),
    grad_accum: positiveInt.optional(),
    seq_len: z.number().int().min(2).optional(),
    seed: nonNegativeInt.optional(),
    dtype: z.enum(['float32', 'bfloat16', 'float16']).optional(),
    device: z
      .string()
      .regex(/^(auto|cpu|cuda|mps|cuda:\d+)$/, 'expected "auto", "cpu", "cuda", "cuda:N" or "mps"')
      .optional(),
    threads: positiveInt.nullish(),
    init_std: z.number().positive().optional(),
    loss_on: z.enum(['response', 'all']).optional(),
    prompt_template: z.strictObject({ with_input: z.string(), no_input: z.string() }).optional(),
    add_bos: z.boolean().nullish(),
    add_eos: z.boolean().optional(),
    checkpoint_every: positiveInt.optional(),
    keep_checkpoints: positiveInt.optional(),
    log_every: positiveInt.optional(),
    save_dtype: z.enum(['float32', 'bfloat16', 'float16']).nullish(),
  })
  .superRefine((c, ctx) => {
    if (c.model === undefined && c.architecture === undefined) {
      ctx.addIssue({ code: 'custom', path: ['model'], message: 'required (an HF folder), or architecture to pretrain from scratch' });
    }
    if (c.model !== undefined && c.architecture !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['architecture'], message: 'give either model or architecture, not both' });
    }
    if (c.mode === 'instatune') {
      if (c.model === undefined) ctx.addIssue({ code: 'custom', path: ['model'], message: 'instatune fine-tunes an HF folder; set model' });
      if (c.search_space === undefined) ctx.addIssue({ code: 'custom', path: ['search_space'], message: 'required for instatune' });
    }
  });

export type TrainConfig = z.infer<typeof TrainConfigSchema>;

/** The paper's values for LLaMA-2-7B (6 epochs, LR 1e-5, global batch 128); documented, not imposed. */
export const PAPER_HYPERPARAMETERS = { epochs: 6, lr: 1e-5, globalBatch: 128 } as const;

/** Validates a parsed config; `mode` (from the command line) must agree with the file's when both are set. */
export function parseTrainConfig(raw: unknown, source: string, mode?: TrainMode): TrainConfig & { mode: TrainMode } {
  const withMode = mode !== undefined && raw && typeof raw === 'object' && !Array.isArray(raw) ? { mode, ...raw } : raw;
  const r = TrainConfigSchema.safeParse(withMode);
  if (!r.success) throw new TrainConfigError(`${source}: ${zodErrorText(r.error)}`);
  const cfg = r.data;
  if (mode !== undefined && cfg.mode !== mode) {
    throw new TrainConfigError(`${source}: mode: the config says "${cfg.mode}" but the mode asked for is "${mode}"`);
  }
  if (cfg.mode === undefined) throw new TrainConfigError(`${source}: mode: required, one of ${TRAIN_MODES.join(', ')}`);
  return { ...cfg, mode: cfg.mode };
}

export function readTrainConfig(file: string, mode?: TrainMode): TrainConfig & { mode: TrainMode } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TrainConfigError(`${file}: cannot read (${(err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TrainConfigError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return parseTrainConfig(raw, file, mode);
}

/** The config with its paths made absolute (relative paths are relative to `baseDir`), so it can be written anywhere. */
export function absolutePaths(cfg: TrainConfig, baseDir: string): TrainConfig {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...cfg,
    ...(cfg.model !== undefined ? { model: abs(cfg.model) } : {}),
    ...(cfg.tokenizer !== undefined ? { tokenizer: abs(cfg.tokenizer) } : {}),
    data: typeof cfg.data === 'string' ? abs(cfg.data) : { ...cfg.data, path: abs(cfg.data.path) },
  };
}

export function configBaseDir(file: string): string {
  return dirname(resolve(file));
}
