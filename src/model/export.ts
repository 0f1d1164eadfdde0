import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint } from './checkpoint';
import type { LlamaConfig } from './config';
import { writeAtomically, writeFileAtomic, writeFully } from '../fsutil';
import { type ExternalLocation, GraphBuilder, OnnxType, decodeInitializers, decodeNodes } from './onnx';
import { elementCount } from './safetensors';
import {
  type LinearQuant,
  type QuantMode,
  type QuantOptions,
  linearQuant,
  quantTag,
  quantizeBlockwise,
  quantizePerColumn,
} from './quantize';
import { canonicalSubnet, canonicalSubnetJson, subnetHash } from './subnet';
import type { SubnetSpec } from './types';

/**
 * One weight as the graph consumes it. Linear weights are stored so that every sub-network
 * uses a prefix of rows: q/k/v/o and down_proj transposed to [in, out] (MatMul's layout; the
 * first k rows of down^T are the first k columns of down_proj), gate_proj and up_proj in the
 * Hugging Face [out, in] layout (first k rows), transposed by the graph.
 */
interface GraphWeight {
  key: string;
  hfName: string;
  dims: number[];
  transpose: boolean;
  /** Layer index for per-layer weights. */
  layer?: number;
  /** MLP weights whose first dimension is the layer's intermediate width. */
  mlp?: boolean;
}

/**
 * Version of the graph and weight layout this exporter writes; part of cache paths, so a change
 * invalidates them. 3: final norm, lm_head and log-softmax only at the `score_index` positions.
 */
export const GRAPH_VERSION = 3;

/** The graph's inputs and outputs, in order. */
export const GRAPH_INPUTS = ['input_ids', 'position_ids', 'attention_bias', 'score_index', 'target_ids'];
export const GRAPH_OUTPUTS = ['target_logprobs', 'logits'];

export const WEIGHT_ALIGNMENT = 64 * 1024;
const SMALL_ALIGNMENT = 64;

export function graphWeights(config: LlamaConfig): GraphWeight[] {
  const { hiddenSize: h, intermediateSize: i, vocabSize: v } = config;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const out: GraphWeight[] = [
    { key: 'embed', hfName: 'model.embed_tokens.weight', dims: [v, h], transpose: false },
  ];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    out.push(
      { key: `l${l}.ln1`, hfName: `${p}.input_layernorm.weight`, dims: [h], transpose: false, layer: l },
      { key: `l${l}.qT`, hfName: `${p}.self_attn.q_proj.weight`, dims: [h, qDim], transpose: true, layer: l },
      {
        key: `l${l}.kT`,
        hfName: `${p}.self_attn.k_proj.weight`,
        dims: [h, kvDim],
        transpose: true,
        layer: l,
      },
      {
        key: `l${l}.vT`,
        hfName: `${p}.self_attn.v_proj.weight`,
        dims: [h, kvDim],
        transpose: true,
        layer: l,
      },
      { key: `l${l}.oT`, hfName: `${p}.self_attn.o_proj.weight`, dims: [qDim, h], transpose: true, layer: l },
      {
        key: `l${l}.ln2`,
        hfName: `${p}.post_attention_layernorm.weight`,
        dims: [h],
        transpose: false,
        layer: l,
      },
      {
        key: `l${l}.gate`,
        hfName: `${p}.mlp.gate_proj.weight`,
        dims: [i, h],
        transpose: false,
        layer: l,
        mlp: true,
      },
      {
        key: `l${l}.up`,
        hfName: `${p}.mlp.up_proj.weight`,
        dims: [i, h],
        transpose: false,
        layer: l,
        mlp: true,
      },
      {
        key: `l${l}.downT`,
        hfName: `${p}.mlp.down_proj.weight`,
        dims: [i, h],
        transpose: true,
        layer: l,
        mlp: true,
      },
    );
  }
  out.push({ key: 'norm', hfName: 'model.norm.weight', dims: [h], transpose: false });
  if (!config.tieWordEmbeddings)
    out.push({ key: 'lmT', hfName: 'lm_head.weight', dims: [h, v], transpose: true });
  return out;
}

/** The weights a sub-network uses, with the first dimension cut to its width where it is elastic. */
function subnetWeights(config: LlamaConfig, spec: SubnetSpec): GraphWeight[] {
  return graphWeights(config)
    .filter((w) => w.layer === undefined || w.layer < spec.layers)
    .map((w) => (w.mlp ? { ...w, dims: [spec.intermediate[w.layer!]!, ...w.dims.slice(1)] } : w));
}

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

async function graphReady(ckpt: Checkpoint, w: GraphWeight): Promise<Float32Array> {
  const data = await ckpt.read(w.hfName);
  if (!w.transpose) return data;
  // HF [out, in] -> [in, out]; w.dims is the transposed (full) shape
  const full = graphWeights(ckpt.config).find((g) => g.key === w.key)!;
  return transpose2d(data, full.dims[1]!, full.dims[0]!);
}

function align(offset: number, bytes: number): number {
  const a = bytes >= WEIGHT_ALIGNMENT ? WEIGHT_ALIGNMENT : SMALL_ALIGNMENT;
  return Math.ceil(offset / a) * a;
}

interface Blob {
  key: string;
  bytes: Uint8Array;
}

/** Writes blobs to `file` atomically, each aligned; returns where each one is. */
async function writeBlobs(
  blobs: AsyncIterable<Blob>,
  file: string,
  location: string,
): Promise<Map<string, ExternalLocation>> {
  const where = new Map<string, ExternalLocation>();
  await writeAtomically(file, async (fd) => {
    let offset = 0;
    for await (const { key, bytes } of blobs) {
      const start = align(offset, bytes.length);
      if (start > offset) writeFully(fd, new Uint8Array(start - offset));
      writeFully(fd, bytes);
      where.set(key, { location, offset: start, length: bytes.length });
      offset = start + bytes.length;
    }
  });
  return where;
}

/** Float weights in graph layout, cut to `dims` (a prefix of rows). */
async function* floatBlobs(ckpt: Checkpoint, weights: GraphWeight[]): AsyncIterable<Blob> {
  for (const w of weights) {
    const data = (await graphReady(ckpt, w)).subarray(0, elementCount(w.dims));
    yield { key: w.key, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }
}

type LinearName = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
const LINEARS: readonly LinearName[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
const HF_LINEAR: Record<LinearName, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};

/** [N, K] = [out, in] of a linear layer of the sub-network. */
function linearShape(
  config: LlamaConfig,
  spec: SubnetSpec,
  layer: number,
  which: LinearName,
): [number, number] {
  const h = config.hiddenSize;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const width = spec.intermediate[layer]!;
  return {
    q: [qDim, h],
    k: [kvDim, h],
    v: [kvDim, h],
    o: [h, qDim],
    gate: [width, h],
    up: [width, h],
    down: [h, width],
  }[which] as [number, number];
}

/** Quantized linear weights of a sub-network (from the Hugging Face layout, MLP cut to its width). */
async function* quantBlobs(ckpt: Checkpoint, spec: SubnetSpec, quant: LinearQuant): AsyncIterable<Blob> {
  for (let l = 0; l < spec.layers; l++) {
    for (const which of LINEARS) {
      const full = await ckpt.read(`model.layers.${l}.${HF_LINEAR[which]}.weight`);
      const [n, k] = linearShape(ckpt.config, spec, l, which);
      let w = full.subarray(0, n * k);
      if (which === 'down') {
        // first k columns of [hidden, intermediate]
        const cols = ckpt.config.intermediateSize;
        w = new Float32Array(n * k);
        for (let r = 0; r < n; r++) w.set(full.subarray(r * cols, r * cols + k), r * k);
      }
      if (quant.kernel !== 'MatMulNBits') {
        const q = quantizePerColumn(w, n, k, quant.scheme);
        yield { key: `l${l}.${which}.qb`, bytes: new Uint8Array(q.codes.buffer) };
        yield { key: `l${l}.${which}.qs`, bytes: new Uint8Array(q.scales.buffer) };
      } else {
        const q = quantizeBlockwise(w, n, k, quant.scheme);
        yield { key: `l${l}.${which}.qb`, bytes: q.packed };
        yield { key: `l${l}.${which}.qs`, bytes: new Uint8Array(q.scales.buffer) };
      }
    }
  }
}

async function* concatBlobs(...parts: AsyncIterable<Blob>[]): AsyncIterable<Blob> {
  for (const part of parts) yield* part;
}

/** Where each full weight lies in the shared weights file of a checkpoint (deterministic layout). */
function sharedLayout(config: LlamaConfig, location: string): Map<string, ExternalLocation> {
  const where = new Map<string, ExternalLocation>();
  let offset = 0;
  for (const w of graphWeights(config)) {
    const length = elementCount(w.dims) * 4;
    const start = align(offset, length);
    where.set(w.key, { location, offset: start, length });
    offset = start + length;
  }
  return where;
}

export interface SubnetGraphOptions {
  /** Extra entries for the model's metadata_props. */
  metadata?: Record<string, string>;
  /** Decoder linear layers as quantized kernels (MatMulNBits, DequantizeLinear + MatMul or DynamicQuantizeMatMul). */
  quant?: LinearQuant;
}

/**
 * The ONNX model (opset 17, float32) of a sub-network. Inputs: input_ids and position_ids
 * [batch, sequence] int64, attention_bias [batch, 1, sequence, sequence] float (0 where
 * visible, a large negative value elsewhere), score_index [batch, scored] int64 (the positions
 * whose next-token distribution is wanted) and target_ids [batch, scored] int64. Only the hidden
 * states at score_index go through the final norm and lm_head, so the vocabulary-sized work is
 * proportional to the positions scored, not to the row length. Outputs: target_logprobs [batch,
 * scored] (log-softmax at target_ids) and logits [batch, scored, vocab].
 */
export function buildSubnetModel(
  config: LlamaConfig,
  spec: SubnetSpec,
  locate: (key: string, dims: number[]) => ExternalLocation,
  options: SubnetGraphOptions = {},
): Uint8Array {
  const g = new GraphBuilder();
  const { hiddenSize: h, headDim: hd, numHeads: nh, numKvHeads: nkv, vocabSize: v } = config;
  const rep = nh / nkv;
  const declared = new Set<string>();
  const weight = (key: string, dims: number[]): string => {
    if (declared.has(key)) return key;
    declared.add(key);
    const loc = locate(key, dims);
    if (loc.length !== elementCount(dims) * 4)
      throw new Error(`internal error: weight ${key} has the wrong length`);
    return g.external(key, OnnxType.FLOAT, dims, loc);
  };
  const widths = new Map(subnetWeights(config, spec).map((w) => [w.key, w.dims]));
  const w = (key: string) => weight(key, widths.get(key)!);
  const quant = options.quant;
  const linear = (x: string, layer: number, which: LinearName): string => {
    if (!quant) {
      const key = `l${layer}.${{ q: 'qT', k: 'kT', v: 'vT', o: 'oT', gate: 'gate', up: 'up', down: 'downT' }[which]}`;
      const wt =
        which === 'gate' || which === 'up' ? g.node('Transpose', [w(key)], { perm: [1, 0] }) : w(key);
      return g.node('MatMul', [x, wt]);
    }
    const [n, k] = linearShape(config, spec, layer, which);
    const bKey = `l${layer}.${which}.qb`;
    const sKey = `l${layer}.${which}.qs`;
    if (quant.kernel === 'DynamicQuantizeMatMul') {
      // int8 [K, N] codes, one scale per output column, zero point 0; activations quantized at run time
      const codes = g.external(bKey, OnnxType.INT8, [k, n], locate(bKey, []));
      const scales = g.external(sKey, OnnxType.FLOAT, [n], locate(sKey, []));
      return g.nodeN('DynamicQuantizeMatMul', [x, codes, scales], {}, 1, 'com.microsoft')[0]!;
    }
    if (quant.kernel === 'DequantizeLinear') {
      // weight-only: the same [K, N] codes and per-column scales, dequantized, a float MatMul
      const codes = g.external(bKey, OnnxType.INT8, [k, n], locate(bKey, []));
      const scales = g.external(sKey, OnnxType.FLOAT, [n], locate(sKey, []));
      return g.node('MatMul', [x, g.node('DequantizeLinear', [codes, scales], { axis: 1 })]);
    }
    const { bits, blockSize, accuracyLevel } = quant.scheme;
    const blocks = Math.ceil(k / blockSize);
    const packed = g.external(bKey, OnnxType.UINT8, [n, blocks, (blockSize * bits) / 8], locate(bKey, []));
    const scales = g.external(sKey, OnnxType.FLOAT, [n * blocks], locate(sKey, []));
    const attrs = { K: k, N: n, bits, block_size: blockSize, accuracy_level: accuracyLevel };
    return g.nodeN('MatMulNBits', [x, packed, scales], attrs, 1, 'com.microsoft')[0]!;
  };

  const inputIds = g.input('input_ids', OnnxType.INT64, ['batch', 'sequence']);
  const positionIds = g.input('position_ids', OnnxType.INT64, ['batch', 'sequence']);
  const bias = g.input('attention_bias', OnnxType.FLOAT, ['batch', 1, 'sequence', 'sequence']);
  const scoreIndex = g.input('score_index', OnnxType.INT64, ['batch', 'scored']);
  const targetIds = g.input('target_ids', OnnxType.INT64, ['batch', 'scored']);

  const axisLast = g.constInt64([-1]);
  const eps = g.constFloat([config.rmsNormEps], []);
  const two = g.constFloat([2], []);
  const rmsNorm = (x: string, wKey: string): string => {
    // the Pow/ReduceMean/Add/Sqrt/Div/Mul form ONNX Runtime fuses into SimplifiedLayerNormalization
    const ms = g.node('ReduceMean', [g.node('Pow', [x, two])], { axes: [-1], keepdims: 1 });
    const normed = g.node('Div', [x, g.node('Sqrt', [g.node('Add', [ms, eps])])]);
    return g.node('Mul', [normed, w(wKey)]);
  };

  // Rotary tables from position ids, as Hugging Face's default LlamaRotaryEmbedding
  const invFreq = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) {
    invFreq[i] = Math.fround(1 / Math.fround(Math.pow(config.ropeTheta, Math.fround((2 * i) / hd))));
  }
  const pos = g.node('Unsqueeze', [g.node('Cast', [positionIds], { to: OnnxType.FLOAT }), axisLast]);
  const freqs = g.node('Mul', [pos, g.constFloat(invFreq)]);
  const emb = g.node('Concat', [freqs, freqs], { axis: -1 });
  const headAxis = g.constInt64([2]);
  const cos = g.node('Unsqueeze', [g.node('Cos', [emb]), headAxis]);
  const sin = g.node('Unsqueeze', [g.node('Sin', [emb]), headAxis]);
  const rope = (t: string): string => {
    const [x1, x2] = g.nodeN('Split', [t], { axis: -1 }, 2) as [string, string];
    const rotated = g.node('Concat', [g.node('Neg', [x2]), x1], { axis: -1 });
    return g.node('Add', [g.node('Mul', [t, cos]), g.node('Mul', [rotated, sin])]);
  };
  const bias5 = g.node('Unsqueeze', [bias, g.constInt64([1])]);
  const scale = g.constFloat([1 / Math.sqrt(hd)], []);
  const shapeQ4 = g.constInt64([0, 0, nh, hd]);
  const shapeKv4 = g.constInt64([0, 0, nkv, hd]);
  const shapeQ5 = g.constInt64([0, 0, nkv, rep, hd]);
  const shapeKv5 = g.constInt64([0, 0, nkv, 1, hd]);
  const shapeOut = g.constInt64([0, 0, nh * hd]);

  let x = g.node('Gather', [w('embed'), inputIds], { axis: 0 });
  for (let l = 0; l < spec.layers; l++) {
    const a = rmsNorm(x, `l${l}.ln1`);
    const q = rope(g.node('Reshape', [linear(a, l, 'q'), shapeQ4]));
    const k = rope(g.node('Reshape', [linear(a, l, 'k'), shapeKv4]));
    const vv = linear(a, l, 'v');
    // Grouped-query attention by broadcasting: query heads [kv group, repeat], keys/values [kv group, 1]
    const q5 = g.node('Transpose', [g.node('Reshape', [q, shapeQ5])], { perm: [0, 2, 3, 1, 4] });
    const kT5 = g.node('Transpose', [g.node('Reshape', [k, shapeKv5])], { perm: [0, 2, 3, 4, 1] });
    const v5 = g.node('Transpose', [g.node('Reshape', [vv, shapeKv5])], { perm: [0, 2, 3, 1, 4] });
    const scores = g.node('Add', [g.node('Mul', [g.node('MatMul', [q5, kT5]), scale]), bias5]);
    const ctx = g.node('MatMul', [g.node('Softmax', [scores], { axis: -1 }), v5]);
    const merged = g.node('Reshape', [g.node('Transpose', [ctx], { perm: [0, 3, 1, 2, 4] }), shapeOut]);
    x = g.node('Add', [x, linear(merged, l, 'o')]);

    const m = rmsNorm(x, `l${l}.ln2`);
    const gate = linear(m, l, 'gate');
    const up = linear(m, l, 'up');
    const act = g.node('Mul', [g.node('Mul', [gate, g.node('Sigmoid', [gate])]), up]);
    x = g.node('Add', [x, linear(act, l, 'down')]);
  }
  // hidden states [batch, scored, hidden] of the scored positions only
  const scored = g.node('GatherND', [x, g.node('Unsqueeze', [scoreIndex, axisLast])], { batch_dims: 1 });
  const final = rmsNorm(scored, 'norm');
  const lmHead = config.tieWordEmbeddings ? g.node('Transpose', [w('embed')], { perm: [1, 0] }) : w('lmT');
  const logits = g.node('MatMul', [final, lmHead], {}, 'logits');
  const logp = g.node('LogSoftmax', [logits], { axis: -1 });
  const picked = g.node('GatherElements', [logp, g.node('Unsqueeze', [targetIds, axisLast])], { axis: 2 });
  g.node('Squeeze', [picked, axisLast], {}, 'target_logprobs');
  g.output('target_logprobs', OnnxType.FLOAT, ['batch', 'scored']);
  g.output('logits', OnnxType.FLOAT, ['batch', 'scored', v]);
  return g.encode({
    graphName: `llama_subnet_${subnetHash(spec)}`,
    opsets: [{ domain: '', version: 17 }, ...(quant ? [{ domain: 'com.microsoft', version: 1 }] : [])],
    metadata: { subnet: canonicalSubnetJson(spec), hidden_size: String(h), ...options.metadata },
  });
}

export const SHARED_WEIGHTS_FILE = 'weights.bin';
const sharedBuilds = new Map<string, Promise<Map<string, ExternalLocation>>>();

/** Only the non-linear weights (embedding, norms, lm_head) of a sub-network, for quantized models. */
function nonLinearWeights(config: LlamaConfig, spec: SubnetSpec): GraphWeight[] {
  return subnetWeights(config, spec).filter((w) => w.layer === undefined || w.dims.length === 1);
}

/**
 * The cached model of a sub-network: DIR/<subnet hash>.onnx next to one shared DIR/weights.bin
 * holding the whole base in graph layout, which every float sub-network points into. A quantized
 * sub-network (DIR/<hash>-<quant>.onnx) keeps its own file of quantized linear weights and takes
 * embedding, norms and lm_head from the shared file. DIR should be specific to the checkpoint's
 * identity. Returns the .onnx path.
 */
export async function ensureCachedSubnetModel(
  ckpt: Checkpoint,
  spec: SubnetSpec,
  dir: string,
  quant: QuantMode = 'none',
  quantOptions: QuantOptions = {},
): Promise<string> {
  const lq = linearQuant(quant, quantOptions);
  const canonical = canonicalSubnet(spec, ckpt.config);
  mkdirSync(dir, { recursive: true });
  const shared = join(dir, SHARED_WEIGHTS_FILE);
  const layout = sharedLayout(ckpt.config, SHARED_WEIGHTS_FILE);
  const last = [...layout.values()].at(-1)!;
  if (!existsSync(shared) || statSync(shared).size !== last.offset + last.length) {
    // concurrent sub-networks of one base in this process share one build
    let build = sharedBuilds.get(shared);
    if (!build) {
      build = writeBlobs(floatBlobs(ckpt, graphWeights(ckpt.config)), shared, SHARED_WEIGHTS_FILE).finally(
        () => sharedBuilds.delete(shared),
      );
      sharedBuilds.set(shared, build);
    }
    const written = await build;
    for (const [key, loc] of written) {
      if (layout.get(key)!.offset !== loc.offset)
        throw new Error(`internal error: shared layout differs at ${key}`);
    }
  }
  const hash = subnetHash(canonical);
  const modelFile = join(dir, lq ? `${hash}-${quantTag(lq)}.onnx` : `${hash}.onnx`);
  if (existsSync(modelFile)) return modelFile;
  const prefix = (key: string, dims: number[]) => ({ ...layout.get(key)!, length: elementCount(dims) * 4 });
  if (!lq) {
    writeFileAtomic(modelFile, buildSubnetModel(ckpt.config, canonical, prefix));
    return modelFile;
  }
  const quantFile = `${hash}-${quantTag(lq)}.weights`;
  const quantWhere = await writeBlobs(quantBlobs(ckpt, canonical, lq), join(dir, quantFile), quantFile);
  const bytes = buildSubnetModel(
    ckpt.config,
    canonical,
    (key, dims) => quantWhere.get(key) ?? prefix(key, dims),
    {
      quant: lq,
    },
  );
  writeFileAtomic(modelFile, bytes);
  return modelFile;
}

export const EXPORT_MODEL_FILE = 'model.onnx';
export const EXPORT_WEIGHTS_FILE = 'model.weights';
export const EXPORT_INFO_FILE = 'subnet.json';

export interface ExportInfo {
  base: { dir: string; identity: string; config: LlamaConfig };
  subnet: SubnetSpec;
  hash: string;
  quant: QuantMode;
  /** The kernel and parameters of a quantized export (e.g. dq8c63, nb4b32a4). */
  quantKernel?: string;
  files: { model: string; weights: string };
  inputs: string[];
  outputs: string[];
  measured: { parameters: number; bytes: number; weightsFileBytes: number };
}

/**
 * Measures an exported model from its files: parameters (float initializers stored externally,
 * plus N x K of every quantized MatMulNBits and the int8 codes of the per-column kernels) and the bytes
 * of external weight data it references (codes and scales of quantized layers included).
 */
export function measureExport(
  dir: string,
  modelFile = EXPORT_MODEL_FILE,
): { parameters: number; bytes: number } {
  const bytes = readFileSync(join(dir, modelFile));
  const inits = decodeInitializers(bytes).filter((t) => t.external);
  const floatParams = inits.filter((t) => t.dataType === OnnxType.FLOAT && !t.name.endsWith('.qs'));
  const nbitsParams = decodeNodes(bytes)
    .filter((n) => n.opType === 'MatMulNBits')
    .reduce((s, n) => s + n.attributes.get('N')! * n.attributes.get('K')!, 0);
  const int8Params = inits
    .filter((t) => t.dataType === OnnxType.INT8)
    .reduce((s, t) => s + elementCount(t.dims), 0);
  const quantParams = nbitsParams + int8Params;
  return {
    parameters: floatParams.reduce((s, t) => s + elementCount(t.dims), 0) + quantParams,
    bytes: inits.reduce((s, t) => s + t.external!.length, 0),
  };
}

/**
 * Exports a sub-network as a self-contained folder: model.onnx, model.weights (only the slices
 * it uses: float32, or the decoder's linear layers quantized) and subnet.json describing base,
 * spec and sizes.
 */
export async function exportSubnet(
  ckpt: Checkpoint,
  spec: SubnetSpec,
  outDir: string,
  quant: QuantMode = 'none',
  quantOptions: QuantOptions = {},
): Promise<ExportInfo> {
  const canonical = canonicalSubnet(spec, ckpt.config);
  const scheme = linearQuant(quant, quantOptions);
  mkdirSync(outDir, { recursive: true });
  const blobs = scheme
    ? concatBlobs(
        floatBlobs(ckpt, nonLinearWeights(ckpt.config, canonical)),
        quantBlobs(ckpt, canonical, scheme),
      )
    : floatBlobs(ckpt, subnetWeights(ckpt.config, canonical));
  const where = await writeBlobs(blobs, join(outDir, EXPORT_WEIGHTS_FILE), EXPORT_WEIGHTS_FILE);
  const bytes = buildSubnetModel(ckpt.config, canonical, (key) => where.get(key)!, {
    metadata: { base_identity: ckpt.identity, quant, ...(scheme ? { quant_kernel: quantTag(scheme) } : {}) },
    ...(scheme ? { quant: scheme } : {}),
  });
  writeFileAtomic(join(outDir, EXPORT_MODEL_FILE), bytes);
  const measured = measureExport(outDir);
  const info: ExportInfo = {
    base: { dir: ckpt.dir, identity: ckpt.identity, config: ckpt.config },
    subnet: canonical,
    hash: subnetHash(canonical),
    quant,
    ...(scheme ? { quantKernel: quantTag(scheme) } : {}),
    files: { model: EXPORT_MODEL_FILE, weights: EXPORT_WEIGHTS_FILE },
    inputs: GRAPH_INPUTS,
    outputs: GRAPH_OUTPUTS,
    measured: { ...measured, weightsFileBytes: statSync(join(outDir, EXPORT_WEIGHTS_FILE)).size },
  };
  writeFileAtomic(join(outDir, EXPORT_INFO_FILE), JSON.stringify(info, null, 2) + '\n');
  return info;
}
