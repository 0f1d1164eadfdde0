/**
 * Block-wise symmetric weight quantization in the layout of ONNX Runtime's
 * com.microsoft.MatMulNBits: a weight W [N, K] (Hugging Face [out, in]) is cut along K into
 * blocks of `blockSize`; each block gets one float scale (absmax / (2^(bits-1) - 1)) and codes
 * q = round(w / scale) + 2^(bits-1), stored low bits first, so w ~ (q - 2^(bits-1)) * scale.
 */
export type QuantMode = 'none' | 'int8' | 'int4';
export const QUANT_MODES: readonly QuantMode[] = ['none', 'int8', 'int4'];

export interface QuantScheme {
  bits: 4 | 8;
  blockSize: number;
  /** MatMulNBits accuracy_level: 4 computes with int8 activations (the VNNI path on x86). */
  accuracyLevel: number;
}

export const QUANT_SCHEMES: Record<Exclude<QuantMode, 'none'>, QuantScheme> = {
  int8: { bits: 8, blockSize: 128, accuracyLevel: 4 },
  int4: { bits: 4, blockSize: 32, accuracyLevel: 4 },
};

export function parseQuantMode(value: string | undefined): QuantMode {
  if (value === undefined) return 'none';
  if (!(QUANT_MODES as readonly string[]).includes(value)) {
    throw new Error(`quantization "${value}" is not one of ${QUANT_MODES.join(', ')}`);
  }
  return value as QuantMode;
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
