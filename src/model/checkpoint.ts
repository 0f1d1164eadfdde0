import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, normalize, sep } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../fsutil';
import { type LlamaConfig, ModelFormatError, llamaConfigToJson, loadLlamaConfig } from './config';
import {
  DTYPE_SIZE,
  type SafetensorsEntry,
  type TensorToWrite,
  type WeightDtype,
  elementCount,
  readSafetensorsHeader,
  readTensorFloat32,
  writeSafetensors,
} from './safetensors';
import { zodErrorText } from '../zod-error';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** Hugging Face parameter names and shapes ([out, in] for linear layers) a config implies. */
export function expectedTensorShapes(config: LlamaConfig): Map<string, number[]> {
  const { hiddenSize: h, intermediateSize: i, vocabSize: v, numHeads, numKvHeads, headDim } = config;
  const shapes = new Map<string, number[]>();
  shapes.set('model.embed_tokens.weight', [v, h]);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    shapes.set(`${p}.input_layernorm.weight`, [h]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [numHeads * headDim, h]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [numKvHeads * headDim, h]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [numKvHeads * headDim, h]);
    shapes.set(`${p}.self_attn.o_proj.weight`, [h, numHeads * headDim]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [h]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [i, h]);
    shapes.set(`${p}.mlp.up_proj.weight`, [i, h]);
    shapes.set(`${p}.mlp.down_proj.weight`, [h, i]);
  }
  shapes.set('model.norm.weight', [h]);
  if (!config.tieWordEmbeddings) shapes.set('lm_head.weight', [v, h]);
  return shapes;
}

/** Buffers some exporters save that carry no parameters. */
const IGNORABLE = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

const IndexSchema = z.object({
  metadata: z.record(z.string(), z.unknown()).optional(),
  weight_map: z.record(z.string(), z.string()),
});

/** A validated Hugging Face LLaMA folder: config plus the location of every tensor. */
export interface Checkpoint {
  dir: string;
  config: LlamaConfig;
  tensors: Map<string, SafetensorsEntry>;
  /** Stable identity of the weights (config, tensor headers, file sizes and times), for caches. */
  identity: string;
  read(name: string): Promise<Float32Array>;
}

function weightFiles(dir: string): string[] {
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(indexPath)) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (err) {
      throw new ModelFormatError(`${indexPath}: not valid JSON (${(err as Error).message})`);
    }
    const index = IndexSchema.safeParse(json);
    if (!index.success) throw new ModelFormatError(`${indexPath}: ${zodErrorText(index.error)}`);
    const files = [...new Set(Object.values(index.data.weight_map))];
    for (const f of files) {
      const n = normalize(f);
      if (n.startsWith('..') || n.startsWith(sep) || n.includes(`..${sep}`)) {
        throw new ModelFormatError(`${indexPath}: shard path ${f} leaves the folder`);
      }
    }
    return files.map((f) => join(dir, f));
  }
  const single = join(dir, SINGLE_FILE);
  if (!existsSync(single)) {
    throw new ModelFormatError(`${dir}: no ${SINGLE_FILE} and no ${INDEX_FILE} (the weights are missing)`);
  }
  return [single];
}

/**
 * Opens and validates a Hugging Face LLaMA folder: every tensor the config implies must be
 * present with that shape and a float dtype, and no tensor may be left over (a config that
 * contradicts the weights fails here, naming the file and the tensor).
 */
export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  const config = loadLlamaConfig(dir);
  const files = weightFiles(dir);
  const tensors = new Map<string, SafetensorsEntry>();
  const identity = createHash('sha256');
  identity.update(readFileSync(join(dir, 'config.json')));
  for (const file of files) {
    const header = await readSafetensorsHeader(file);
    const st = statSync(file);
    identity.update(`\n${basename(file)}:${st.size}:${st.mtimeMs}`);
    for (const [name, entry] of header.entries) {
      if (tensors.has(name)) {
        throw new ModelFormatError(`${file}: tensor ${name} is also in ${tensors.get(name)!.file}`);
      }
      tensors.set(name, entry);
      identity.update(`\n${name}:${entry.dtype}:${entry.shape.join('x')}:${entry.begin}`);
    }
  }
  const configFile = join(dir, 'config.json');
  const expected = expectedTensorShapes(config);
  for (const [name, shape] of expected) {
    const entry = tensors.get(name);
    if (!entry) throw new ModelFormatError(`${dir}: tensor ${name} is missing (${configFile} implies it)`);
    if (entry.shape.length !== shape.length || entry.shape.some((d, k) => d !== shape[k])) {
      throw new ModelFormatError(
        `${entry.file}: tensor ${name} has shape ${JSON.stringify(entry.shape)}, but ${configFile} implies ${JSON.stringify(shape)}`,
      );
    }
  }
  for (const [name, entry] of tensors) {
    if (expected.has(name) || IGNORABLE.test(name)) continue;
    if (name === 'lm_head.weight' && config.tieWordEmbeddings) {
      const v = [config.vocabSize, config.hiddenSize];
      if (entry.shape.length !== 2 || entry.shape[0] !== v[0] || entry.shape[1] !== v[1]) {
        throw new ModelFormatError(
          `${entry.file}: tensor lm_head.weight has shape ${JSON.stringify(entry.shape)}, but ${configFile} implies ${JSON.stringify(v)}`,
        );
      }
      continue;
    }
    throw new ModelFormatError(
      `${entry.file}: tensor ${name} is not part of the model ${configFile} describes ` +
        `(${config.numLayers} layers${config.tieWordEmbeddings ? ', tied embeddings' : ''})`,
    );
  }
  return {
    dir,
    config,
    tensors,
    identity: identity.digest('hex').slice(0, 32),
    read: async (name) => {
      const entry = tensors.get(name);
      if (!entry) throw new ModelFormatError(`${dir}: tensor ${name} is missing`);
      return readTensorFloat32(entry);
    },
  };
}

export interface WriteCheckpointOptions {
  dtype?: WeightDtype;
  /** Split into model-0000i-of-0000n.safetensors shards with an index when the data exceeds this. */
  maxShardBytes?: number;
}

/** Writes config.json and the weights (single file or sharded with an index) in the Hugging Face format. */
export function writeCheckpoint(
  dir: string,
  config: LlamaConfig,
  weights: Map<string, Float32Array>,
  options: WriteCheckpointOptions = {},
): void {
  const dtype = options.dtype ?? 'F32';
  const expected = expectedTensorShapes(config);
  const tensors: TensorToWrite[] = [];
  for (const [name, shape] of expected) {
    const data = weights.get(name);
    if (!data) throw new Error(`writeCheckpoint: tensor ${name} is missing`);
    if (data.length !== elementCount(shape)) {
      throw new Error(
        `writeCheckpoint: tensor ${name} has ${data.length} values, config implies ${JSON.stringify(shape)}`,
      );
    }
    tensors.push({ name, dtype, shape, data });
  }
  for (const name of weights.keys()) {
    if (!expected.has(name)) throw new Error(`writeCheckpoint: tensor ${name} is not part of the model`);
  }
  mkdirSync(dir, { recursive: true });
  const torchDtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
  writeJsonAtomic(join(dir, 'config.json'), llamaConfigToJson({ ...config, torchDtype }));
  const maxShard = options.maxShardBytes ?? Infinity;
  const shards: TensorToWrite[][] = [[]];
  let current = 0;
  for (const t of tensors) {
    const bytes = t.data.length * DTYPE_SIZE[dtype];
    if (current > 0 && current + bytes > maxShard) {
      shards.push([]);
      current = 0;
    }
    shards[shards.length - 1]!.push(t);
    current += bytes;
  }
  if (shards.length === 1) {
    writeSafetensors(join(dir, SINGLE_FILE), tensors, { format: 'pt' });
    return;
  }
  const weightMap: Record<string, string> = {};
  let total = 0;
  const pad = (n: number) => String(n).padStart(5, '0');
  shards.forEach((shard, k) => {
    const name = `model-${pad(k + 1)}-of-${pad(shards.length)}.safetensors`;
    total += writeSafetensors(join(dir, name), shard, { format: 'pt' });
    for (const t of shard) weightMap[t.name] = name;
  });
  writeJsonAtomic(join(dir, INDEX_FILE), { metadata: { total_size: total }, weight_map: weightMap });
}

/** Reads every parameter of a checkpoint as float32 (for re-writing or small models). */
export async function readAllWeights(checkpoint: Checkpoint): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const name of expectedTensorShapes(checkpoint.config).keys())
    out.set(name, await checkpoint.read(name));
  return out;
}
