/**
 * Weight quantization of the decoder layers' linear weights, in the layouts of ONNX Runtime CPU
 * kernels:
 *
 * - DequantizeLinear + MatMul (per column, `int8`: weight-only): int8 codes in MatMul's [K, N]
 *   layout, one float scale per output column (absmax / 127), zero point 0, dequantized and
 *   multiplied in float32 (the session folds the dequantization into float weights, runtime.ts
 *   sessionOptions), as the PyTorch scoring backend computes it.
 * - com.microsoft.MatMulNBits (block-wise): a weight W [N, K] (Hugging Face [out, in]) is cut
 *   along K into blocks of `blockSize`; each block gets one float scale (absmax / (2^(bits-1) - 1))
 *   and codes q = round(w / scale) + 2^(bits-1), stored low bits first, so w ~ (q - 2^(bits-1)) * scale.
 *   At accuracy_level 0 the kernel dequantizes and multiplies in float32 (`int4`: weight-only); at
 *   accuracy_level 4 it also quantizes the activations to int8 per block (`int8-a8`, `int4-a8`).
 * - com.microsoft.DynamicQuantizeMatMul (per column, `int8-dq`): codes as DequantizeLinear's with
 *   absmax / 63; the activations are quantized to uint8 at run time.
 */
export type QuantMode = 'none' | 'int8' | 'int4' | 'int8-dq' | 'int8-a8' | 'int4-a8';
export const QUANT_MODES: readonly QuantMode[] = ['none', 'int8', 'int4', 'int8-dq', 'int8-a8', 'int4-a8'];

/** The block-wise (MatMulNBits) modes. */
export type BlockwiseMode = 'int4' | 'int8-a8' | 'int4-a8';

/** MatMulNBits parameters. */
export interface QuantScheme {
  bits: 4 | 8;
  blockSize: number;
  /**
   * MatMulNBits accuracy_level: 0 dequantizes the weights and computes in float32 (weight-only);
   * 4 computes with int8 activations (the VNNI/AVX2 int8 path on x86).
   */
  accuracyLevel: 0 | 4;
}

/** Per-column (DequantizeLinear, DynamicQuantizeMatMul) parameters. */
export interface PerColumnScheme {
  /**
   * Largest code magnitude. 127 is the full int8 range; 63 ("reduce range") keeps a pair of
   * uint8 x int8 products within int16, which the AVX2 kernel (vpmaddubsw, no VNNI) saturates.
   */
  qmax: number;
}

/** How the linear layers of a quantized sub-network are stored and computed. */
export type LinearQuant =
  | { kernel: 'MatMulNBits'; scheme: QuantScheme }
  | { kernel: 'DynamicQuantizeMatMul'; scheme: PerColumnScheme }
  | { kernel: 'DequantizeLinear'; scheme: PerColumnScheme };

/** Block sizes MatMulNBits accepts (a power of two, at least 16). */
export const BLOCK_SIZES: readonly number[] = [16, 32, 64, 128, 256];

export const INT4_DEFAULT_BLOCK = 32;
export const INT8_A8_DEFAULT_BLOCK = 128;
export const DQ_SCHEME: PerColumnScheme = { qmax: 63 };
/** Weight-only int8: the full code range (the activations stay float, nothing can saturate). */
export const WEIGHT_ONLY_INT8_SCHEME: PerColumnScheme = { qmax: 127 };

/** MatMulNBits schemes of the block-wise modes at their default block sizes. */
export const QUANT_SCHEMES: Record<BlockwiseMode, QuantScheme> = {
  int4: { bits: 4, blockSize: INT4_DEFAULT_BLOCK, accuracyLevel: 0 },
  'int8-a8': { bits: 8, blockSize: INT8_A8_DEFAULT_BLOCK, accuracyLevel: 4 },
  'int4-a8': { bits: 4, blockSize: INT4_DEFAULT_BLOCK, accuracyLevel: 4 },
};

export interface QuantOptions {
  /** Block size of the block-wise (MatMulNBits) modes; default 32 for int4, 128 for int8-a8. */
  blockSize?: number;
}

export function parseQuantMode(value: string | undefined): QuantMode {
  if (value === undefined) return 'none';
  if (!(QUANT_MODES as readonly string[]).includes(value)) {
    throw new Error(`quantization "${value}" is not one of ${QUANT_MODES.join(', ')}`);
  }
  return value as QuantMode;
}

/** The storage and kernel of a quantization mode; undefined for 'none'. */
export function linearQuant(mode: QuantMode, opts: QuantOptions = {}): LinearQuant | undefined {
  if (mode === 'none') return undefined;
  if (mode === 'int8' || mode === 'int8-dq') {
    if (opts.blockSize !== undefined)
      throw new Error(
        `a block size applies to block-wise modes (int4, int8-a8, int4-a8), not ${mode} (per column)`,
      );
    return mode === 'int8'
      ? { kernel: 'DequantizeLinear', scheme: WEIGHT_ONLY_INT8_SCHEME }
      : { kernel: 'DynamicQuantizeMatMul', scheme: DQ_SCHEME };
  }
  const blockSize = opts.blockSize ?? QUANT_SCHEMES[mode].blockSize;
  if (!BLOCK_SIZES.includes(blockSize))
    throw new Error(`block size ${blockSize} is not one of ${BLOCK_SIZES.join(', ')}`);
  return { kernel: 'MatMulNBits', scheme: { ...QUANT_SCHEMES[mode], blockSize } };
}

/** A short name of a kernel and its parameters, for file names and metadata. */
export function quantTag(q: LinearQuant): string {
  if (q.kernel === 'DynamicQuantizeMatMul') return `dq8c${q.scheme.qmax}`;
  if (q.kernel === 'DequantizeLinear') return `dl8c${q.scheme.qmax}`;
  return `nb${q.scheme.bits}b${q.scheme.blockSize}a${q.scheme.accuracyLevel}`;
}

/**
 * Bytes a quantized [n, k] linear weight occupies: the codes (block-padded for MatMulNBits) and
 * the float32 scales the kernel stores (one per block of each row for MatMulNBits, one per column
 * for DynamicQuantizeMatMul).
 */
export function quantizedLinearBytes(
  q: LinearQuant,
  n: number,
  k: number,
): { codes: number; scales: number } {
  if (q.kernel !== 'MatMulNBits') return { codes: n * k, scales: 4 * n };
  const blocks = Math.ceil(k / q.scheme.blockSize);
  return { codes: (n * blocks * q.scheme.blockSize * q.scheme.bits) / 8, scales: 4 * n * blocks };
}

export interface QuantizedMatrix {
  n: number;
  k: number;
  blocks: number;
  /** [n, blocks, blockSize * bits / 8] */
  packed: Uint8Array;
  /** [n, blocks] */
  scales: Float32Array;
}

export function quantizeBlockwise(
  w: Float32Array,
  n: number,
  k: number,
  scheme: QuantScheme,
): QuantizedMatrix {
  if (w.length !== n * k) throw new Error(`quantizeBlockwise: ${w.length} values for [${n}, ${k}]`);
  const { bits, blockSize } = scheme;
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const zero = 1 << (bits - 1);
  const maxCode = (1 << bits) - 1;
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const codes = new Uint8Array(blockSize);
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < blocks; b++) {
      const from = row * k + b * blockSize;
      const count = Math.min(blockSize, k - b * blockSize);
      let absmax = 0;
      for (let i = 0; i < count; i++) absmax = Math.max(absmax, Math.abs(w[from + i]!));
      const scale = Math.fround(absmax / (zero - 1));
      scales[row * blocks + b] = scale;
      codes.fill(zero);
      if (scale > 0) {
        for (let i = 0; i < count; i++) {
          codes[i] = Math.min(maxCode, Math.max(0, Math.round(w[from + i]! / scale) + zero));
        }
      }
      const out = (row * blocks + b) * blob;
      if (bits === 8) packed.set(codes, out);
      else for (let i = 0; i < blob; i++) packed[out + i] = codes[2 * i]! | (codes[2 * i + 1]! << 4);
    }
  }
  return { n, k, blocks, packed, scales };
}

/** The float weights [n, k] a quantized matrix stands for. */
export function dequantize(q: QuantizedMatrix, scheme: QuantScheme): Float32Array {
  const { bits, blockSize } = scheme;
  const blob = (blockSize * bits) / 8;
  const zero = 1 << (bits - 1);
  const out = new Float32Array(q.n * q.k);
  for (let row = 0; row < q.n; row++) {
    for (let col = 0; col < q.k; col++) {
      const b = Math.floor(col / blockSize);
      const i = col % blockSize;
      const byte = q.packed[(row * q.blocks + b) * blob + (bits === 8 ? i : i >> 1)]!;
      const code = bits === 8 ? byte : i & 1 ? byte >> 4 : byte & 0xf;
      out[row * q.k + col] = (code - zero) * q.scales[row * q.blocks + b]!;
    }
  }
  return out;
}

export interface PerColumnMatrix {
  n: number;
  k: number;
  /** [k, n] int8 codes (MatMul's layout: column j is output channel j). */
  codes: Int8Array;
  /** [n] */
  scales: Float32Array;
}

/** Symmetric per-output-channel int8 quantization of W [n, k] (Hugging Face [out, in]), transposed to [k, n]. */
export function quantizePerColumn(
  w: Float32Array,
  n: number,
  k: number,
  scheme: PerColumnScheme,
): PerColumnMatrix {
  if (w.length !== n * k) throw new Error(`quantizePerColumn: ${w.length} values for [${n}, ${k}]`);
  const codes = new Int8Array(k * n);
  const scales = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let absmax = 0;
    for (let i = 0; i < k; i++) absmax = Math.max(absmax, Math.abs(w[j * k + i]!));
    const scale = Math.fround(absmax / scheme.qmax);
    scales[j] = scale;
    if (scale === 0) continue;
    for (let i = 0; i < k; i++) {
      codes[i * n + j] = Math.min(scheme.qmax, Math.max(-scheme.qmax, Math.round(w[j * k + i]! / scale)));
    }
  }
  return { n, k, codes, scales };
}

/** The float weights [n, k] (Hugging Face layout) a per-column matrix stands for. */
export function dequantizePerColumn(q: PerColumnMatrix): Float32Array {
  const out = new Float32Array(q.n * q.k);
  for (let j = 0; j < q.n; j++)
    for (let i = 0; i < q.k; i++) out[j * q.k + i] = q.codes[i * q.n + j]! * q.scales[j]!;
  return out;
}
