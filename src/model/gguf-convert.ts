import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../fsutil';
import { type Checkpoint, writeCheckpoint } from './checkpoint';
import { type LlamaConfig, ModelFormatError } from './config';
import {
  GGML_BLOCK,
  type GgufFile,
  type GgufTensorToStream,
  type GgufValue,
  GgmlType,
  GgufValueType,
  encodeFloat,
  gguf,
  ggmlTypeName,
  metaArray,
  metaNumber,
  metaString,
  quantizeQ8_0,
  readGguf,
  readGgufTensor,
  writeGgufStreamed,
} from './gguf';
import { ggufTokenizerMetadata, tokenizerFromGguf } from './gguf-tokenizer';
import { canonicalSubnet, canonicalSubnetJson } from './subnet';
import type { SubnetSpec } from './types';

/**
 * llama.cpp interleaves the two rotary halves of each q/k head: Hugging Face row j*D/2 + i of a
 * head (half j, index i) is GGUF row 2i + j. `toGguf` applies that permutation to a [heads*D, cols]
 * row-major matrix, `!toGguf` undoes it.
 */
export function permuteRotary(
  w: Float32Array,
  heads: number,
  headDim: number,
  cols: number,
  toGguf: boolean,
): Float32Array {
  if (w.length !== heads * headDim * cols)
    throw new Error(`permuteRotary: ${w.length} values for ${heads}x${headDim}x${cols}`);
  const out = new Float32Array(w.length);
  const halfDim = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < halfDim; i++) {
        const hf = (h * headDim + j * halfDim + i) * cols;
        const gg = (h * headDim + 2 * i + j) * cols;
        const [from, to] = toGguf ? [hf, gg] : [gg, hf];
        out.set(w.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

export const GGUF_ARCHITECTURES = ['llama', 'deci'] as const;

/** What a GGUF describes, in Hugging Face terms; `widths` are per-layer MLP widths. */
export interface GgufModel {
  architecture: (typeof GGUF_ARCHITECTURES)[number];
  config: LlamaConfig;
  widths: number[];
}

function perLayer(g: GgufFile, key: string, layers: number, required: boolean): number[] | undefined {
  const v = g.metadata.get(key);
  if (!v) {
    if (required) throw new ModelFormatError(`${g.file}: metadata ${key} is missing`);
    return undefined;
  }
  if (v.type === GgufValueType.ARRAY) {
    const arr = metaArray(g, key)!.map(Number);
    if (arr.length !== layers)
      throw new ModelFormatError(`${g.file}: metadata ${key} has ${arr.length} entries for ${layers} layers`);
    return arr;
  }
  return new Array<number>(layers).fill(metaNumber(g, key, true));
}

function uniform(g: GgufFile, key: string, values: number[]): number {
  if (values.some((x) => x !== values[0])) {
    throw new ModelFormatError(
      `${g.file}: metadata ${key} varies by layer (${values.join(', ')}); only per-layer MLP widths are supported`,
    );
  }
  return values[0]!;
}

/** Reads the model description of a GGUF; refuses architectures and settings the engine does not run. */
export function describeGguf(g: GgufFile): GgufModel {
  const arch = metaString(g, 'general.architecture');
  if (!arch) throw new ModelFormatError(`${g.file}: metadata general.architecture is missing`);
  if (!(GGUF_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new ModelFormatError(
      `${g.file}: metadata general.architecture is "${arch}"; supported: ${GGUF_ARCHITECTURES.join(', ')} (LLaMA-architecture models)`,
    );
  }
  const a = arch as GgufModel['architecture'];
  const num = (k: string): number => metaNumber(g, `${a}.${k}`, true);
  const layers = num('block_count');
  const hidden = num('embedding_length');
  const widths = perLayer(g, `${a}.feed_forward_length`, layers, true)!;
  const heads = uniform(
    g,
    `${a}.attention.head_count`,
    perLayer(g, `${a}.attention.head_count`, layers, true)!,
  );
  const kvHeads = uniform(
    g,
    `${a}.attention.head_count_kv`,
    perLayer(g, `${a}.attention.head_count_kv`, layers, false) ?? new Array<number>(layers).fill(heads),
  );
  if (widths.some((w) => w <= 0) || heads <= 0 || kvHeads <= 0) {
    throw new ModelFormatError(
      `${g.file}: layers without attention or MLP (a 0 in ${a}.feed_forward_length or the head counts) are not supported`,
    );
  }
  const headDim = metaNumber(g, `${a}.attention.key_length`) ?? hidden / heads;
  const valueDim = metaNumber(g, `${a}.attention.value_length`) ?? headDim;
  const ropeDim = metaNumber(g, `${a}.rope.dimension_count`) ?? headDim;
  if (!Number.isInteger(headDim) || valueDim !== headDim || ropeDim !== headDim) {
    throw new ModelFormatError(
      `${g.file}: head dimensions key ${headDim}, value ${valueDim}, rotary ${ropeDim} must be one even integer (metadata ${a}.attention.key_length, ${a}.rope.dimension_count)`,
    );
  }
  const scaling = metaString(g, `${a}.rope.scaling.type`);
  if (scaling !== undefined && scaling !== 'none') {
    throw new ModelFormatError(
      `${g.file}: metadata ${a}.rope.scaling.type is "${scaling}"; rotary scaling is not supported`,
    );
  }
  const tokens = metaArray(g, 'tokenizer.ggml.tokens');
  const embd = g.tensors.get('token_embd.weight');
  if (!embd) throw new ModelFormatError(`${g.file}: tensor token_embd.weight is missing`);
  const vocab = metaNumber(g, `${a}.vocab_size`) ?? tokens?.length ?? embd.dims[1]!;
  const bos = metaNumber(g, 'tokenizer.ggml.bos_token_id');
  const eos = metaNumber(g, 'tokenizer.ggml.eos_token_id');
  const config: LlamaConfig = {
    vocabSize: vocab,
    hiddenSize: hidden,
    intermediateSize: Math.max(...widths),
    numLayers: layers,
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim,
    rmsNormEps: metaNumber(g, `${a}.attention.layer_norm_rms_epsilon`, true),
    ropeTheta: metaNumber(g, `${a}.rope.freq_base`) ?? 10000,
    tieWordEmbeddings: !g.tensors.has('output.weight'),
    maxPositionEmbeddings: metaNumber(g, `${a}.context_length`) ?? 2048,
    ...(bos !== undefined ? { bosTokenId: bos } : {}),
    ...(eos !== undefined ? { eosTokenId: eos } : {}),
  };
  return { architecture: a, config, widths };
}

/** GGUF tensor name -> Hugging Face name, shape [out, in] and rotary heads to un-permute. */
interface TensorMap {
  gguf: string;
  hf: string;
  shape: number[];
  rotaryHeads?: number;
  /** MLP tensor of a layer narrower than the widest: zero-padded to `intermediateSize`. */
  width?: { layer: number; axis: 0 | 1 };
}

function tensorMaps(model: GgufModel): TensorMap[] {
  const { config: c, widths } = model;
  const h = c.hiddenSize;
  const maps: TensorMap[] = [
    { gguf: 'token_embd.weight', hf: 'model.embed_tokens.weight', shape: [c.vocabSize, h] },
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const b = `blk.${l}`;
    const p = `model.layers.${l}`;
    const w = widths[l]!;
    maps.push(
      { gguf: `${b}.attn_norm.weight`, hf: `${p}.input_layernorm.weight`, shape: [h] },
      {
        gguf: `${b}.attn_q.weight`,
        hf: `${p}.self_attn.q_proj.weight`,
        shape: [c.numHeads * c.headDim, h],
        rotaryHeads: c.numHeads,
      },
      {
        gguf: `${b}.attn_k.weight`,
        hf: `${p}.self_attn.k_proj.weight`,
        shape: [c.numKvHeads * c.headDim, h],
        rotaryHeads: c.numKvHeads,
      },
      {
        gguf: `${b}.attn_v.weight`,
        hf: `${p}.self_attn.v_proj.weight`,
        shape: [c.numKvHeads * c.headDim, h],
      },
      {
        gguf: `${b}.attn_output.weight`,
        hf: `${p}.self_attn.o_proj.weight`,
        shape: [h, c.numHeads * c.headDim],
      },
      { gguf: `${b}.ffn_norm.weight`, hf: `${p}.post_attention_layernorm.weight`, shape: [h] },
      {
        gguf: `${b}.ffn_gate.weight`,
        hf: `${p}.mlp.gate_proj.weight`,
        shape: [w, h],
        width: { layer: l, axis: 0 },
      },
      {
        gguf: `${b}.ffn_up.weight`,
        hf: `${p}.mlp.up_proj.weight`,
        shape: [w, h],
        width: { layer: l, axis: 0 },
      },
      {
        gguf: `${b}.ffn_down.weight`,
        hf: `${p}.mlp.down_proj.weight`,
        shape: [h, w],
        width: { layer: l, axis: 1 },
      },
    );
  }
  maps.push({ gguf: 'output_norm.weight', hf: 'model.norm.weight', shape: [h] });
  if (!c.tieWordEmbeddings)
    maps.push({ gguf: 'output.weight', hf: 'lm_head.weight', shape: [c.vocabSize, h] });
  return maps;
}

/** Zero-pads an MLP matrix to `full` channels (zero channels add nothing: silu(0) * 0 = 0). */
function padWidth(w: Float32Array, shape: number[], axis: 0 | 1, full: number): Float32Array {
  const [rows, cols] = shape as [number, number];
  if (axis === 0) {
    const out = new Float32Array(full * cols);
    out.set(w);
    return out;
  }
  const out = new Float32Array(rows * full);
  for (let r = 0; r < rows; r++) out.set(w.subarray(r * cols, (r + 1) * cols), r * full);
  return out;
}

export interface ImportOptions {
  /** Storage type of the weights written: float32 (default) or bfloat16. */
  dtype?: 'F32' | 'BF16';
}

export interface ImportResult {
  dir: string;
  architecture: string;
  config: LlamaConfig;
  /** Per-layer MLP widths of the GGUF (narrower layers are zero-padded in the folder). */
  widths: number[];
  /** Count of tensors per GGUF tensor type. */
  tensorTypes: Record<string, number>;
  tokenizer: string;
}

/**
 * A GGUF (v2/v3) LLaMA-architecture model as a Hugging Face LLaMA folder: config.json,
 * model.safetensors (dequantized, q/k rows back in Hugging Face order), tokenizer.json and
 * tokenizer_config.json rebuilt from `tokenizer.ggml.*`. A `deci` model with per-layer MLP
 * widths becomes the widest width with the others zero-padded, and `subnet.json` names the
 * sub-network that is the original model.
 */
export function importGguf(file: string, outDir: string, options: ImportOptions = {}): ImportResult {
  const g = readGguf(file);
  const model = describeGguf(g);
  const maps = tensorMaps(model);
  const known = new Set(maps.map((m) => m.gguf));
  for (const name of g.tensors.keys()) {
    if (!known.has(name)) {
      throw new ModelFormatError(
        `${file}: tensor ${name} is not part of a ${model.architecture} model this engine runs`,
      );
    }
  }
  const tokenizer = tokenizerFromGguf(g);
  const weights = new Map<string, Float32Array>();
  const tensorTypes: Record<string, number> = {};
  for (const m of maps) {
    const info = g.tensors.get(m.gguf);
    if (!info) throw new ModelFormatError(`${file}: tensor ${m.gguf} is missing`);
    const dims = [...m.shape].reverse();
    if (info.dims.length !== dims.length || info.dims.some((d, k) => d !== dims[k])) {
      throw new ModelFormatError(
        `${file}: tensor ${m.gguf} has dimensions ${JSON.stringify(info.dims)}, the metadata implies ${JSON.stringify(dims)}`,
      );
    }
    tensorTypes[ggmlTypeName(info.type)] = (tensorTypes[ggmlTypeName(info.type)] ?? 0) + 1;
    let w = readGgufTensor(g, m.gguf);
    if (m.rotaryHeads)
      w = permuteRotary(w, m.rotaryHeads, model.config.headDim, model.config.hiddenSize, false);
    if (m.width && model.widths[m.width.layer]! < model.config.intermediateSize) {
      w = padWidth(w, m.shape, m.width.axis, model.config.intermediateSize);
    }
    weights.set(m.hf, w);
  }
  mkdirSync(outDir, { recursive: true });
  writeCheckpoint(outDir, model.config, weights, { dtype: options.dtype ?? 'F32' });
  if (tokenizer) {
    writeJsonAtomic(join(outDir, 'tokenizer.json'), tokenizer.tokenizerJson);
    writeJsonAtomic(join(outDir, 'tokenizer_config.json'), tokenizer.tokenizerConfig);
  }
  if (model.widths.some((w) => w !== model.config.intermediateSize)) {
    writeJsonAtomic(join(outDir, 'subnet.json'), {
      layers: model.config.numLayers,
      intermediate: model.widths,
    });
  }
  return {
    dir: outDir,
    architecture: model.architecture,
    config: model.config,
    widths: model.widths,
    tensorTypes,
    tokenizer: metaString(g, 'tokenizer.ggml.model') ?? 'none',
  };
}

// ---- export ----

export const GGUF_EXPORT_TYPES = ['F32', 'F16', 'Q8_0'] as const;
export type GgufExportType = (typeof GGUF_EXPORT_TYPES)[number];

/** llama_ftype of a whole file. */
const FILE_TYPE: Record<GgufExportType, number> = { F32: 0, F16: 1, Q8_0: 7 };

export interface GgufExportInfo {
  file: string;
  architecture: 'llama' | 'deci';
  subnet: SubnetSpec;
  type: GgufExportType;
  bytes: number;
  parameters: number;
  /** Tensors stored in F16 because their rows are not a multiple of the Q8_0 block. */
  f16Fallback: string[];
}

function sliceRows(w: Float32Array, rows: number, cols: number): Float32Array {
  return w.subarray(0, rows * cols);
}

function sliceCols(w: Float32Array, rows: number, cols: number, keep: number): Float32Array {
  const out = new Float32Array(rows * keep);
  for (let r = 0; r < rows; r++) out.set(w.subarray(r * cols, r * cols + keep), r * keep);
  return out;
}

function readOptionalJson(file: string): unknown {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelFormatError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

/**
 * A sub-network of a checkpoint as a GGUF file llama.cpp loads: the `llama` architecture when
 * every layer keeps one MLP width, `deci` (per-layer `feed_forward_length`, NVIDIA's NAS-derived
 * Nemotron format) otherwise. Matrices in F32, F16 or Q8_0 (norms stay F32); q/k rows permuted to
 * llama.cpp's rotary layout.
 */
export async function exportGguf(
  ckpt: Checkpoint,
  subnet: SubnetSpec,
  file: string,
  type: GgufExportType = 'F16',
  name = 'llama-nas sub-network',
): Promise<GgufExportInfo> {
  const c = ckpt.config;
  const spec = canonicalSubnet(subnet, c);
  const widths = spec.intermediate;
  const arch = widths.every((w) => w === widths[0]) ? 'llama' : 'deci';
  const h = c.hiddenSize;
  const meta: [string, GgufValue][] = [
    ['general.architecture', gguf.str(arch)],
    ['general.type', gguf.str('model')],
    ['general.name', gguf.str(name)],
    ['general.file_type', gguf.u32(FILE_TYPE[type])],
    ['general.quantization_version', gguf.u32(2)],
    ['llama-nas.subnet', gguf.str(canonicalSubnetJson(spec))],
    [`${arch}.vocab_size`, gguf.u32(c.vocabSize)],
    [`${arch}.context_length`, gguf.u32(c.maxPositionEmbeddings)],
    [`${arch}.embedding_length`, gguf.u32(h)],
    [`${arch}.block_count`, gguf.u32(spec.layers)],
    [`${arch}.rope.dimension_count`, gguf.u32(c.headDim)],
    [`${arch}.rope.freq_base`, gguf.f32(c.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gguf.f32(c.rmsNormEps)],
    [`${arch}.attention.key_length`, gguf.u32(c.headDim)],
    [`${arch}.attention.value_length`, gguf.u32(c.headDim)],
  ];
  if (arch === 'llama') {
    meta.push(
      ['llama.feed_forward_length', gguf.u32(widths[0]!)],
      ['llama.attention.head_count', gguf.u32(c.numHeads)],
      ['llama.attention.head_count_kv', gguf.u32(c.numKvHeads)],
    );
  } else {
    const each = (n: number): number[] => new Array<number>(spec.layers).fill(n);
    meta.push(
      ['deci.feed_forward_length', gguf.arr(GgufValueType.INT32, widths)],
      ['deci.attention.head_count', gguf.arr(GgufValueType.INT32, each(c.numHeads))],
      ['deci.attention.head_count_kv', gguf.arr(GgufValueType.INT32, each(c.numKvHeads))],
    );
  }
  const tokenizerFile = join(ckpt.dir, 'tokenizer.json');
  if (existsSync(tokenizerFile)) {
    meta.push(
      ...ggufTokenizerMetadata(
        readFileSync(tokenizerFile, 'utf8'),
        readOptionalJson(join(ckpt.dir, 'tokenizer_config.json')),
        { bos: c.bosTokenId, eos: c.eosTokenId },
        tokenizerFile,
      ),
    );
  } else {
    meta.push(['tokenizer.ggml.model', gguf.str('no_vocab')]);
  }

  // tensors are read, cut and encoded when the writer reaches them: one in memory at a time
  const tensors: GgufTensorToStream[] = [];
  const f16Fallback: string[] = [];
  let parameters = 0;
  const matrix = (ggName: string, read: () => Promise<Float32Array>, rows: number, cols: number): void => {
    let t: GgmlType = { F32: GgmlType.F32, F16: GgmlType.F16, Q8_0: GgmlType.Q8_0 }[type];
    if (t === GgmlType.Q8_0 && cols % GGML_BLOCK[GgmlType.Q8_0].elements !== 0) {
      t = GgmlType.F16;
      f16Fallback.push(ggName);
    }
    const encode = async (): Promise<Uint8Array> => {
      const data = await read();
      return t === GgmlType.Q8_0 ? quantizeQ8_0(data) : encodeFloat(data, t as GgmlType.F32 | GgmlType.F16);
    };
    tensors.push({ name: ggName, dims: [cols, rows], type: t, encode });
    parameters += rows * cols;
  };
  const vector = (ggName: string, key: string, length: number): void => {
    tensors.push({
      name: ggName,
      dims: [length],
      type: GgmlType.F32,
      encode: async () => encodeFloat(await ckpt.read(key), GgmlType.F32),
    });
    parameters += length;
  };
  const qRows = c.numHeads * c.headDim;
  const kvRows = c.numKvHeads * c.headDim;
  const read = (key: string) => () => ckpt.read(key);
  matrix('token_embd.weight', read('model.embed_tokens.weight'), c.vocabSize, h);
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    const k = widths[l]!;
    vector(`blk.${l}.attn_norm.weight`, `${p}.input_layernorm.weight`, h);
    matrix(
      `blk.${l}.attn_q.weight`,
      async () =>
        permuteRotary(await ckpt.read(`${p}.self_attn.q_proj.weight`), c.numHeads, c.headDim, h, true),
      qRows,
      h,
    );
    matrix(
      `blk.${l}.attn_k.weight`,
      async () =>
        permuteRotary(await ckpt.read(`${p}.self_attn.k_proj.weight`), c.numKvHeads, c.headDim, h, true),
      kvRows,
      h,
    );
    matrix(`blk.${l}.attn_v.weight`, read(`${p}.self_attn.v_proj.weight`), kvRows, h);
    matrix(`blk.${l}.attn_output.weight`, read(`${p}.self_attn.o_proj.weight`), h, qRows);
    vector(`blk.${l}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`, h);
    matrix(
      `blk.${l}.ffn_gate.weight`,
      async () => sliceRows(await ckpt.read(`${p}.mlp.gate_proj.weight`), k, h),
      k,
      h,
    );
    matrix(
      `blk.${l}.ffn_up.weight`,
      async () => sliceRows(await ckpt.read(`${p}.mlp.up_proj.weight`), k, h),
      k,
      h,
    );
    matrix(
      `blk.${l}.ffn_down.weight`,
      async () => sliceCols(await ckpt.read(`${p}.mlp.down_proj.weight`), h, c.intermediateSize, k),
      h,
      k,
    );
  }
  vector('output_norm.weight', 'model.norm.weight', h);
  if (!c.tieWordEmbeddings) matrix('output.weight', read('lm_head.weight'), c.vocabSize, h);
  await writeGgufStreamed(file, meta, tensors);
  const bytes = statSync(file).size;
  return { file, architecture: arch, subnet: spec, type, bytes, parameters, f16Fallback };
}

export { readGguf };
