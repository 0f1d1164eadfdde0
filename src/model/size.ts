import type { LlamaConfig } from './config';
import { type QuantMode, type QuantOptions, linearQuant, quantTag, quantizedLinearBytes } from './quantize';
import { canonicalSubnet, fullSubnet } from './subnet';
import type { SubnetSpec } from './types';

/** Storage types sizes are reported for. */
export type SizeDtype = 'f32' | 'f16' | 'bf16' | 'int8' | 'int4';
export const SIZE_DTYPES: readonly SizeDtype[] = ['f32', 'f16', 'bf16', 'int8', 'int4'];
/** Bytes per parameter; quantization scales are not counted here (quantizedModelSize counts them). */
export const BYTES_PER_PARAMETER: Record<SizeDtype, number> = { f32: 4, f16: 2, bf16: 2, int8: 1, int4: 0.5 };

type PresetConfig = Omit<LlamaConfig, 'bosTokenId' | 'eosTokenId' | 'torchDtype'>;

/** Published architectures of well-known LLaMA models (their config.json values). */
export const PRESETS: Record<string, PresetConfig> = {
  'llama2-7b': {
    vocabSize: 32000,
    hiddenSize: 4096,
    intermediateSize: 11008,
    numLayers: 32,
    numHeads: 32,
    numKvHeads: 32,
    headDim: 128,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 4096,
  },
  'llama2-13b': {
    vocabSize: 32000,
    hiddenSize: 5120,
    intermediateSize: 13824,
    numLayers: 40,
    numHeads: 40,
    numKvHeads: 40,
    headDim: 128,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 4096,
  },
  'llama2-70b': {
    vocabSize: 32000,
    hiddenSize: 8192,
    intermediateSize: 28672,
    numLayers: 80,
    numHeads: 64,
    numKvHeads: 8,
    headDim: 128,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 4096,
  },
  'llama3-8b': {
    vocabSize: 128256,
    hiddenSize: 4096,
    intermediateSize: 14336,
    numLayers: 32,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 128,
    rmsNormEps: 1e-5,
    ropeTheta: 500000,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 8192,
  },
  'tinyllama-1.1b': {
    vocabSize: 32000,
    hiddenSize: 2048,
    intermediateSize: 5632,
    numLayers: 22,
    numHeads: 32,
    numKvHeads: 4,
    headDim: 64,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 2048,
  },
};

export function presetConfig(name: string): LlamaConfig {
  const preset = PRESETS[name];
  if (!preset) throw new Error(`unknown base "${name}"; presets: ${Object.keys(PRESETS).join(', ')}`);
  return { ...preset };
}

export interface ParameterCount {
  /** All parameters. */
  total: number;
  /** Parameters of the linear layers inside decoder layers (what weight quantization touches). */
  decoderLinear: number;
  /** Embedding, lm_head and norms. */
  other: number;
}

type SizeConfig = Pick<
  LlamaConfig,
  | 'vocabSize'
  | 'hiddenSize'
  | 'intermediateSize'
  | 'numLayers'
  | 'numHeads'
  | 'numKvHeads'
  | 'headDim'
  | 'tieWordEmbeddings'
>;

/** Analytic parameter count of a sub-network (the full network when `spec` is omitted). */
export function countParameters(config: SizeConfig, spec?: SubnetSpec): ParameterCount {
  const s = spec ? canonicalSubnet(spec, config) : fullSubnet(config);
  const h = config.hiddenSize;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const attention = 2 * h * qDim + 2 * h * kvDim;
  let decoderLinear = 0;
  for (const k of s.intermediate) decoderLinear += attention + 3 * h * k;
  const norms = s.layers * 2 * h + h;
  const embeddings = config.vocabSize * h * (config.tieWordEmbeddings ? 1 : 2);
  const other = norms + embeddings;
  return { total: decoderLinear + other, decoderLinear, other };
}

export interface ModelSize {
  parameters: number;
  bytes: number;
  gib: number;
}

export function toGib(bytes: number): number {
  return bytes / 2 ** 30;
}

/**
 * Analytic size of a sub-network stored in `dtype`; `linearDtype` (e.g. int8 after weight
 * quantization) applies to the decoder layers' linear weights only, embeddings and norms keep `dtype`.
 */
export function modelSize(
  config: SizeConfig,
  spec: SubnetSpec | undefined,
  dtype: SizeDtype,
  linearDtype: SizeDtype = dtype,
): ModelSize {
  const p = countParameters(config, spec);
  const bytes = p.other * BYTES_PER_PARAMETER[dtype] + p.decoderLinear * BYTES_PER_PARAMETER[linearDtype];
  return { parameters: p.total, bytes, gib: toGib(bytes) };
}

export interface QuantizedModelSize extends ModelSize {
  quant: QuantMode;
  /** The kernel and its parameters (e.g. dq8c63, nb4b32a4); absent for 'none'. */
  kernel?: string;
  /** Bytes of the decoder layers' linear weights: codes plus scales when quantized. */
  linearBytes: number;
  /** Of linearBytes, the float32 scales the kernel stores (per column or per block). */
  scaleBytes: number;
  /** Embedding, norms and lm_head, stored in `dtype`. */
  otherBytes: number;
}

/**
 * Size of a sub-network after weight quantization, by the paper's rule: the decoder layers'
 * linear weights at their quantized size (1 byte per parameter for int8, half a byte for int4)
 * plus the float32 scales the kernel stores for them, everything else (embedding, norms,
 * lm_head) in `dtype` (2 bytes for f16/bf16). With quant 'none' everything is in `dtype`.
 */
export function quantizedModelSize(
  config: SizeConfig,
  spec: SubnetSpec | undefined,
  dtype: SizeDtype,
  quant: QuantMode,
  opts: QuantOptions = {},
): QuantizedModelSize {
  const s = spec ? canonicalSubnet(spec, config) : fullSubnet(config);
  const p = countParameters(config, s);
  const otherBytes = p.other * BYTES_PER_PARAMETER[dtype];
  const lq = linearQuant(quant, opts);
  if (!lq) {
    const linearBytes = p.decoderLinear * BYTES_PER_PARAMETER[dtype];
    const bytes = otherBytes + linearBytes;
    return { parameters: p.total, bytes, gib: toGib(bytes), quant, linearBytes, scaleBytes: 0, otherBytes };
  }
  const h = config.hiddenSize;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  let codeBytes = 0;
  let scaleBytes = 0;
  for (const width of s.intermediate) {
    const shapes: [number, number][] = [
      [qDim, h],
      [kvDim, h],
      [kvDim, h],
      [h, qDim],
      [width, h],
      [width, h],
      [h, width],
    ];
    for (const [n, k] of shapes) {
      const b = quantizedLinearBytes(lq, n, k);
      codeBytes += b.codes;
      scaleBytes += b.scales;
    }
  }
  const linearBytes = codeBytes + scaleBytes;
  const bytes = otherBytes + linearBytes;
  return {
    parameters: p.total,
    bytes,
    gib: toGib(bytes),
    quant,
    kernel: quantTag(lq),
    linearBytes,
    scaleBytes,
    otherBytes,
  };
}
