import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { zodErrorText } from '../zod-error';

/** A config.json (or other file) that is not a LLaMA configuration this engine can run. */
export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

const positiveInt = z.number().int().positive();

/**
 * The Hugging Face LlamaConfig fields that change the math. Fields that would change it in a way
 * the engine does not implement (rope scaling, biases, another activation) are rejected rather
 * than silently ignored.
 */
const LlamaConfigSchema = z.looseObject({
  model_type: z.literal('llama').optional(),
  vocab_size: positiveInt,
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullish(),
  head_dim: positiveInt.nullish(),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: z.null().optional(),
  tie_word_embeddings: z.boolean().default(false),
  max_position_embeddings: positiveInt.default(2048),
  hidden_act: z.literal('silu').default('silu'),
  attention_bias: z.literal(false).default(false),
  mlp_bias: z.literal(false).default(false),
  bos_token_id: z.number().int().nullish(),
  eos_token_id: z.union([z.number().int(), z.array(z.number().int())]).nullish(),
  torch_dtype: z.string().nullish(),
});

export interface LlamaConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  bosTokenId?: number;
  eosTokenId?: number;
  torchDtype?: string;
}

/** Validates a parsed config.json; `source` names the file in errors. */
export function parseLlamaConfig(json: unknown, source = 'config.json'): LlamaConfig {
  const parsed = LlamaConfigSchema.safeParse(json);
  if (!parsed.success) throw new ModelFormatError(`${source}: ${zodErrorText(parsed.error)}`);
  const c = parsed.data;
  const numKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % numKvHeads !== 0) {
    throw new ModelFormatError(
      `${source}: num_attention_heads (${c.num_attention_heads}) is not a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  if (c.head_dim == null && c.hidden_size % c.num_attention_heads !== 0) {
    throw new ModelFormatError(
      `${source}: hidden_size (${c.hidden_size}) is not a multiple of num_attention_heads (${c.num_attention_heads})`,
    );
  }
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (headDim % 2 !== 0)
    throw new ModelFormatError(`${source}: head_dim ${headDim} must be even for rotary embeddings`);
  const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0] : c.eos_token_id;
  return {
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    numKvHeads,
    headDim,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    tieWordEmbeddings: c.tie_word_embeddings,
    maxPositionEmbeddings: c.max_position_embeddings,
    ...(c.bos_token_id != null ? { bosTokenId: c.bos_token_id } : {}),
    ...(eos != null ? { eosTokenId: eos } : {}),
    ...(c.torch_dtype ? { torchDtype: c.torch_dtype } : {}),
  };
}

/** Reads and validates DIR/config.json. */
export function loadLlamaConfig(dir: string): LlamaConfig {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ModelFormatError(`${file}: missing (a Hugging Face LLaMA folder needs config.json)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelFormatError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return parseLlamaConfig(json, file);
}

/** The Hugging Face config.json form of a config. */
export function llamaConfigToJson(config: LlamaConfig): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: config.tieWordEmbeddings,
    max_position_embeddings: config.maxPositionEmbeddings,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    ...(config.bosTokenId !== undefined ? { bos_token_id: config.bosTokenId } : {}),
    ...(config.eosTokenId !== undefined ? { eos_token_id: config.eosTokenId } : {}),
    torch_dtype: config.torchDtype ?? 'float32',
  };
}
