// The input of the analysis: a campaign's results as the campaign writes them (results.json).
// Every field is validated with zod; see src/analysis/README.md for the file's description.
import { z } from 'zod';
import type { SubnetSpec } from '../model/types';

export const QUANT_LEVELS = ['none', 'int8', 'int4'] as const;
export type Quant = (typeof QUANT_LEVELS)[number];

export const ORIGINS = ['search', 'heuristic', 'front'] as const;
export type Origin = (typeof ORIGINS)[number];

const positiveInt = z.number().int().positive();

export const subnetSchema = z
  .strictObject({
    layers: positiveInt,
    intermediate: z.array(positiveInt).min(1),
  })
  .refine((s) => s.intermediate.length === s.layers, {
    message: 'intermediate must list exactly one width per active layer (length === layers)',
    path: ['intermediate'],
  });

export const evaluationRecordSchema = z.object({
  /** The task's name as the evaluator knows it, e.g. "mmlu". */
  task: z.string().min(1),
  subnet: subnetSchema,
  /** The campaign's key of the sub-network (any stable string; the analysis compares `subnet`s). */
  key: z.string().min(1),
  /** The task's metric, a fraction in [0, 1]. */
  accuracy: z.number().min(0).max(1),
  accuracyStderr: z.number().nonnegative().optional(),
  parameters: positiveInt,
  /** Bytes of the weights as evaluated (after quantization where `quant` is not "none"). */
  sizeBytes: z.number().positive(),
  /** Tokens per second, where measured. */
  throughput: z.number().positive().optional(),
  quant: z.enum(QUANT_LEVELS),
  /** The LINAS loop (0-based) in which a search evaluation was made. */
  loop: z.number().int().nonnegative().optional(),
  /** True for the full (pre-trained) model. */
  isFull: z.boolean().optional(),
  /** search: chosen by LINAS; front: re-evaluation of a front member (e.g. quantized); heuristic: a confirmation. */
  origin: z.enum(ORIGINS).optional(),
});
export type EvaluationRecord = z.infer<typeof evaluationRecordSchema>;

export const hypervolumeEntrySchema = z.object({
  task: z.string().min(1),
  loop: z.number().int().nonnegative(),
  hypervolume: z.number().nonnegative(),
  referencePoint: z.array(z.number()).min(1),
});
export type HypervolumeEntry = z.infer<typeof hypervolumeEntrySchema>;

export const campaignInfoSchema = z
  .object({
    name: z.string().min(1),
    baseModel: z.string().min(1),
    /** ISO 8601 time stamp. */
    createdAt: z.string().min(1),
    id: z.string().optional(),
    description: z.string().optional(),
  })
  .loose();
export type CampaignInfo = z.infer<typeof campaignInfoSchema>;

export const fullModelSchema = z.object({
  parameters: positiveInt,
  /** Bytes of the full model's float weights. */
  sizeBytes: z.number().positive(),
  layers: positiveInt,
  /** The layer counts of the search space, e.g. [24, 28, 32]. */
  layerOptions: z.array(positiveInt).min(1),
  /** The MLP widths of the search space: one list for all layers, or one list per layer. */
  intermediateOptions: z.union([z.array(positiveInt).min(1), z.array(z.array(positiveInt).min(1)).min(1)]),
});
export type FullModel = z.infer<typeof fullModelSchema>;

export const campaignResultsSchema = z
  .object({
    campaign: campaignInfoSchema,
    fullModel: fullModelSchema,
    records: z.array(evaluationRecordSchema),
    hypervolumes: z.array(hypervolumeEntrySchema).optional(),
  })
  .superRefine((r, ctx) => {
    const maxLayers = Math.max(...r.fullModel.layerOptions);
    if (maxLayers > r.fullModel.layers) {
      ctx.addIssue({
        code: 'custom',
        path: ['fullModel', 'layerOptions'],
        message: `layer option ${maxLayers} exceeds the full model's ${r.fullModel.layers} layers`,
      });
    }
    r.records.forEach((rec, i) => {
      if (rec.subnet.layers > r.fullModel.layers) {
        ctx.addIssue({
          code: 'custom',
          path: ['records', i, 'subnet', 'layers'],
          message: `${rec.subnet.layers} layers, but the full model has ${r.fullModel.layers}`,
        });
      }
    });
  });
export type CampaignResults = z.infer<typeof campaignResultsSchema>;

export type { SubnetSpec };

/** A campaign results file (or object) that does not match the schema. */
export class CampaignResultsError extends Error {
  override name = 'CampaignResultsError';
}

/** Misuse of the analysis functions (e.g. asking for a task that has no evaluations). */
export class AnalysisError extends Error {
  override name = 'AnalysisError';
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(root)';
}

/** Validates parsed JSON as campaign results; errors name the source and each bad field's path. */
export function parseCampaignResults(json: unknown, source = 'campaign results'): CampaignResults {
  const parsed = campaignResultsSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 10).map((i) => `  ${formatPath(i.path)}: ${i.message}`);
    const more = parsed.error.issues.length > 10 ? `\n  ... and ${parsed.error.issues.length - 10} more` : '';
    throw new CampaignResultsError(`${source} is not valid campaign results:\n${issues.join('\n')}${more}`);
  }
  return parsed.data;
}
