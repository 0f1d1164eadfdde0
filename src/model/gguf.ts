import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ModelFormatError } from './config';
import { writeAtomically, writeAtomicallySync, writeFully } from '../fsutil';
import { floatToHalf, halfToFloat } from './safetensors';

/**
 * The GGUF container (llama.cpp's model file, versions 2 and 3): little-endian header, typed
 * key/value metadata, tensor descriptors, then tensor data aligned to `general.alignment`
 * (default 32). Tensor dimensions are in ggml order (ne[0] varies fastest), so a Hugging Face
 * [out, in] matrix is stored as dims [in, out] with the same bytes.
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_type). */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Tensor types (ggml_type) this module knows the block layout of. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  Q4_K = 12,
  Q6_K = 14,
  BF16 = 30,
}

/** Elements per block and bytes per block of each supported tensor type. */
export const GGML_BLOCK: Record<GgmlType, { elements: number; bytes: number }> = {
  [GgmlType.F32]: { elements: 1, bytes: 4 },
  [GgmlType.F16]: { elements: 1, bytes: 2 },
  [GgmlType.BF16]: { elements: 1, bytes: 2 },
  [GgmlType.Q8_0]: { elements: 32, bytes: 34 },
  [GgmlType.Q4_0]: { elements: 32, bytes: 18 },
  [GgmlType.Q4_1]: { elements: 32, bytes: 20 },
  [GgmlType.Q4_K]: { elements: 256, bytes: 144 },
  [GgmlType.Q6_K]: { elements: 256, bytes: 210 },
};

export function ggmlTypeName(type: number): string {
  return GgmlType[type] ?? `ggml type ${type}`;
}

export type GgufScalar = number | bigint | boolean | string;
/** A metadata value with its stored type (arrays keep their element type). */
export type GgufValue =
  | { type: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType; value: GgufScalar[] };

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the contiguous (fastest) dimension. */
  dims: number[];
  type: GgmlType;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  file: string;
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  alignment: number;
}

export function tensorByteLength(type: GgmlType, dims: readonly number[], where: string): number {
  const block = GGML_BLOCK[type];
  const n = dims.reduce((a, b) => a * b, 1);
  if (dims[0]! % block.elements !== 0) {
    throw new ModelFormatError(
      `${where}: ${ggmlTypeName(type)} needs rows of a multiple of ${block.elements} elements, got ${dims[0]}`,
    );
  }
  return (n / block.elements) * block.bytes;
}

/** Reads the file on demand through a sliding buffer (headers of real models run to megabytes). */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    readonly file: string,
  ) {}

  private ensure(n: number): void {
    if (this.pos + n <= this.bufStart + this.buf.length) return;
    if (this.pos + n > this.size) {
      throw new ModelFormatError(`${this.file}: header runs past the end of the file at byte ${this.pos}`);
    }
    const len = Math.min(this.size - this.pos, Math.max(n, 1 << 20));
    const b = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      const r = readSync(this.fd, b, done, len - done, this.pos + done);
      if (r === 0) throw new ModelFormatError(`${this.file}: unexpected end of file`);
      done += r;
    }
    this.buf = b;
    this.bufStart = this.pos;
  }

  private take(n: number): number {
    this.ensure(n);
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  u8 = (): number => {
    const at = this.take(1);
    return this.buf.readUInt8(at);
  };
  i8 = (): number => {
    const at = this.take(1);
    return this.buf.readInt8(at);
  };
  u16 = (): number => {
    const at = this.take(2);
    return this.buf.readUInt16LE(at);
  };
  i16 = (): number => {
    const at = this.take(2);
    return this.buf.readInt16LE(at);
  };
  u32 = (): number => {
    const at = this.take(4);
    return this.buf.readUInt32LE(at);
  };
  i32 = (): number => {
    const at = this.take(4);
    return this.buf.readInt32LE(at);
  };
  f32 = (): number => {
    const at = this.take(4);
    return this.buf.readFloatLE(at);
  };
  f64 = (): number => {
    const at = this.take(8);
    return this.buf.readDoubleLE(at);
  };
  u64 = (): bigint => {
    const at = this.take(8);
    return this.buf.readBigUInt64LE(at);
  };
  i64 = (): bigint => {
    const at = this.take(8);
    return this.buf.readBigInt64LE(at);
  };

  /** A u64 count or size that must fit in a safe integer (and in `limit`, when given). */
  count(what: string, limit = Number.MAX_SAFE_INTEGER): number {
    const at = this.pos;
    const v = this.u64();
    if (v > BigInt(limit))
      throw new ModelFormatError(`${this.file}: ${what} ${v} at byte ${at} is implausible`);
    return Number(v);
  }

  string(): string {
    const len = this.count('string length', this.size);
    const at = this.take(len);
    return this.buf.toString('utf8', at, at + len);
  }
}

/** The shortest decimal that is the same float32 (1e-5 rather than 9.999999747378752e-6). */
export function shortestFloat32(x: number): number {
  for (let p = 1; p < 10; p++) {
    const d = Number(x.toPrecision(p));
    if (Math.fround(d) === x) return d;
  }
  return x;
}

function readScalar(c: Cursor, type: GgufValueType, key: string): GgufScalar {
  switch (type) {
    case GgufValueType.UINT8:
      return c.u8();
    case GgufValueType.INT8:
      return c.i8();
    case GgufValueType.UINT16:
      return c.u16();
    case GgufValueType.INT16:
      return c.i16();
    case GgufValueType.UINT32:
      return c.u32();
    case GgufValueType.INT32:
      return c.i32();
    case GgufValueType.FLOAT32:
      return shortestFloat32(c.f32());
    case GgufValueType.BOOL:
      return c.u8() !== 0;
    case GgufValueType.STRING:
      return c.string();
    case GgufValueType.UINT64:
      return c.u64();
    case GgufValueType.INT64:
      return c.i64();
    case GgufValueType.FLOAT64:
      return c.f64();
    default:
      throw new ModelFormatError(`${c.file}: metadata ${key}: unknown value type ${type as number}`);
  }
}

/** Reads and validates a GGUF header: metadata and tensor descriptors (no tensor data). */
export function readGguf(file: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    throw new ModelFormatError(`${file}: missing or unreadable`);
  }
  try {
    const size = fstatSync(fd).size;
    const c = new Cursor(fd, size, file);
    if (size < 24 || c.u32() !== GGUF_MAGIC)
      throw new ModelFormatError(`${file}: not a GGUF file (no GGUF magic)`);
    const version = c.u32();
    if (version !== 2 && version !== 3) {
      throw new ModelFormatError(`${file}: GGUF version ${version} is not supported (2 and 3 are)`);
    }
    const tensorCount = c.count('tensor count', size);
    const kvCount = c.count('metadata count', size);
    const metadata = new Map<string, GgufValue>();
    for (let k = 0; k < kvCount; k++) {
      const key = c.string();
      const type = c.u32() as GgufValueType;
      if (type === GgufValueType.ARRAY) {
        const itemType = c.u32() as GgufValueType;
        if (itemType === GgufValueType.ARRAY)
          throw new ModelFormatError(`${file}: metadata ${key}: nested arrays are not supported`);
        const n = c.count(`metadata ${key}: array length`, size);
        const value: GgufScalar[] = new Array<GgufScalar>(n);
        for (let i = 0; i < n; i++) value[i] = readScalar(c, itemType, key);
        metadata.set(key, { type, itemType, value });
      } else {
        metadata.set(key, { type, value: readScalar(c, type, key) } as GgufValue);
      }
    }
    const alignValue = metadata.get('general.alignment');
    const alignment = alignValue ? Number(alignValue.value) : GGUF_DEFAULT_ALIGNMENT;
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
      throw new ModelFormatError(`${file}: general.alignment ${alignment} must be a positive multiple of 8`);
    }
    const infos: { name: string; dims: number[]; type: number; rel: number }[] = [];
    for (let t = 0; t < tensorCount; t++) {
      const name = c.string();
      const nDims = c.u32();
      if (nDims < 1 || nDims > 4) throw new ModelFormatError(`${file}: tensor ${name}: ${nDims} dimensions`);
      const dims = Array.from({ length: nDims }, () => c.count(`tensor ${name}: dimension`, size * 8));
      const type = c.u32();
      const rel = c.count(`tensor ${name}: offset`, size);
      infos.push({ name, dims, type, rel });
    }
    const dataStart = Math.ceil(c.pos / alignment) * alignment;
    const tensors = new Map<string, GgufTensorInfo>();
    for (const { name, dims, type, rel } of infos) {
      if (!(type in GGML_BLOCK)) {
        throw new ModelFormatError(
          `${file}: tensor ${name} has type ${ggmlTypeName(type)}, not one of ` +
            `${Object.keys(GGML_BLOCK)
              .map((t) => ggmlTypeName(Number(t)))
              .join(', ')}`,
        );
      }
      if (tensors.has(name)) throw new ModelFormatError(`${file}: tensor ${name} appears twice`);
      const byteLength = tensorByteLength(type as GgmlType, dims, `${file}: tensor ${name}`);
      const offset = dataStart + rel;
      if (rel % alignment !== 0)
        throw new ModelFormatError(`${file}: tensor ${name}: offset ${rel} is not aligned`);
      if (offset + byteLength > size) {
        throw new ModelFormatError(
          `${file}: tensor ${name}: data runs past the end of the file (truncated?)`,
        );
      }
      tensors.set(name, { name, dims, type: type as GgmlType, offset, byteLength });
    }
    return { file, version, metadata, tensors, alignment };
  } finally {
    closeSync(fd);
  }
}

/** The raw bytes of one tensor. */
export function readGgufTensorBytes(gguf: GgufFile, info: GgufTensorInfo): Uint8Array {
  const fd = openSync(gguf.file, 'r');
  try {
    const out = new Uint8Array(info.byteLength);
    let done = 0;
    while (done < out.length) {
      const r = readSync(fd, out, done, out.length - done, info.offset + done);
      if (r === 0) throw new ModelFormatError(`${gguf.file}: tensor ${info.name}: unexpected end of file`);
      done += r;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** One tensor dequantized to float32, in ggml order (= row-major with dims reversed). */
export function readGgufTensor(gguf: GgufFile, name: string): Float32Array {
  const info = gguf.tensors.get(name);
  if (!info) throw new ModelFormatError(`${gguf.file}: tensor ${name} is missing`);
  const n = info.dims.reduce((a, b) => a * b, 1);
  return dequantize(readGgufTensorBytes(gguf, info), info.type, n);
}

// ---- dequantization (block layouts as ggml defines them) ----

/** Decodes `n` elements of `type` from `bytes` to float32. */
export function dequantize(bytes: Uint8Array, type: GgmlType, n: number): Float32Array {
  const out = new Float32Array(n);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const half = (at: number): number => halfToFloat(v.getUint16(at, true));
  const { elements, bytes: blockBytes } = GGML_BLOCK[type];
  const blocks = n / elements;
  if (bytes.byteLength < blocks * blockBytes)
    throw new Error(`dequantize: ${bytes.byteLength} bytes for ${n} ${ggmlTypeName(type)} values`);
  switch (type) {
    case GgmlType.F32:
      for (let i = 0; i < n; i++) out[i] = v.getFloat32(i * 4, true);
      break;
    case GgmlType.F16:
      for (let i = 0; i < n; i++) out[i] = half(i * 2);
      break;
    case GgmlType.BF16: {
      const o32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) o32[i] = v.getUint16(i * 2, true) << 16;
      break;
    }
    case GgmlType.Q8_0:
      // { f16 d; i8 q[32] }: x = d * q
      for (let b = 0; b < blocks; b++) {
        const at = b * 34;
        const d = half(at);
        for (let j = 0; j < 32; j++) out[b * 32 + j] = d * v.getInt8(at + 2 + j);
      }
      break;
    case GgmlType.Q4_0:
      // { f16 d; u8 qs[16] }: low nibbles are elements 0..15, high nibbles 16..31; x = d * (q - 8)
      for (let b = 0; b < blocks; b++) {
        const at = b * 18;
        const d = half(at);
        for (let j = 0; j < 16; j++) {
          const q = bytes[at + 2 + j]!;
          out[b * 32 + j] = d * ((q & 0xf) - 8);
          out[b * 32 + j + 16] = d * ((q >> 4) - 8);
        }
      }
      break;
    case GgmlType.Q4_1:
      // { f16 d; f16 m; u8 qs[16] }: x = d * q + m
      for (let b = 0; b < blocks; b++) {
        const at = b * 20;
        const d = half(at);
        const m = half(at + 2);
        for (let j = 0; j < 16; j++) {
          const q = bytes[at + 4 + j]!;
          out[b * 32 + j] = d * (q & 0xf) + m;
          out[b * 32 + j + 16] = d * (q >> 4) + m;
        }
      }
      break;
    case GgmlType.Q4_K:
      dequantizeQ4K(bytes, v, blocks, out);
      break;
    case GgmlType.Q6_K:
      dequantizeQ6K(bytes, v, blocks, out);
      break;
  }
  return out;
}

/**
 * Q4_K super-blocks of 256: { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }, eight sub-blocks
 * of 32 with 6-bit scale and min packed into `scales`; x = d*sc*q - dmin*m.
 */
function dequantizeQ4K(bytes: Uint8Array, v: DataView, blocks: number, out: Float32Array): void {
  for (let b = 0; b < blocks; b++) {
    const at = b * 144;
    const d = halfToFloat(v.getUint16(at, true));
    const dmin = halfToFloat(v.getUint16(at + 2, true));
    const sc = at + 4;
    const scaleMin = (j: number): [number, number] => {
      if (j < 4) return [bytes[sc + j]! & 63, bytes[sc + j + 4]! & 63];
      return [
        (bytes[sc + j + 4]! & 0xf) | ((bytes[sc + j - 4]! >> 6) << 4),
        (bytes[sc + j + 4]! >> 4) | ((bytes[sc + j]! >> 6) << 4),
      ];
    };
    let q = at + 16;
    let y = b * 256;
    for (let j = 0; j < 8; j += 2) {
      const [s1, m1] = scaleMin(j);
      const [s2, m2] = scaleMin(j + 1);
      const d1 = d * s1;
      const d2 = d * s2;
      const o1 = dmin * m1;
      const o2 = dmin * m2;
      for (let l = 0; l < 32; l++) out[y + l] = d1 * (bytes[q + l]! & 0xf) - o1;
      for (let l = 0; l < 32; l++) out[y + 32 + l] = d2 * (bytes[q + l]! >> 4) - o2;
      q += 32;
      y += 64;
    }
  }
}

/**
 * Q6_K super-blocks of 256: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: 6-bit codes (low
 * 4 bits in ql, high 2 in qh) minus 32, sixteen sub-blocks of 16 with an int8 scale each.
 */
function dequantizeQ6K(bytes: Uint8Array, v: DataView, blocks: number, out: Float32Array): void {
  for (let b = 0; b < blocks; b++) {
    const at = b * 210;
    const d = halfToFloat(v.getUint16(at + 208, true));
    for (let n = 0; n < 2; n++) {
      const ql = at + n * 64;
      const qh = at + 128 + n * 32;
      const sc = at + 192 + n * 8;
      const y = b * 256 + n * 128;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = bytes[qh + l]!;
        const q1 = ((bytes[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((bytes[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = d * v.getInt8(sc + is) * q1;
        out[y + l + 32] = d * v.getInt8(sc + is + 2) * q2;
        out[y + l + 64] = d * v.getInt8(sc + is + 4) * q3;
        out[y + l + 96] = d * v.getInt8(sc + is + 6) * q4;
      }
    }
  }
}

// ---- quantization for writing ----

/** float32 -> Q8_0 blocks: d = max|x| / 127 (stored as f16), q = round(x / d). */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % 32 !== 0)
    throw new Error(`quantizeQ8_0: ${values.length} values is not a multiple of 32`);
  const blocks = values.length / 32;
  const out = new Uint8Array(blocks * 34);
  const v = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[b * 32 + j]!));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    v.setUint16(b * 34, floatToHalf(d), true);
    for (let j = 0; j < 32; j++) v.setInt8(b * 34 + 2 + j, Math.round(values[b * 32 + j]! * id));
  }
  return out;
}

/** float32 -> the bytes of a float tensor type. */
export function encodeFloat(values: Float32Array, type: GgmlType.F32 | GgmlType.F16): Uint8Array {
  const out = new Uint8Array(values.length * (type === GgmlType.F32 ? 4 : 2));
  const v = new DataView(out.buffer);
  if (type === GgmlType.F32) for (let i = 0; i < values.length; i++) v.setFloat32(i * 4, values[i]!, true);
  else for (let i = 0; i < values.length; i++) v.setUint16(i * 2, floatToHalf(values[i]!), true);
  return out;
}

// ---- writing ----

export interface GgufTensorToWrite {
  name: string;
  dims: number[];
  type: GgmlType;
  data: Uint8Array;
}

export const gguf = {
  u32: (value: number): GgufValue => ({ type: GgufValueType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufValueType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GgufValueType.STRING, value }),
  arr: (itemType: GgufValueType, value: GgufScalar[]): GgufValue => ({
    type: GgufValueType.ARRAY,
    itemType,
    value,
  }),
};

class ByteWriter {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    this.push(b);
  }
  u64(n: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.push(b);
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  scalar(type: GgufValueType, value: GgufScalar, key: string): void {
    const b = Buffer.alloc(8);
    switch (type) {
      case GgufValueType.UINT8:
        return this.push(Buffer.from([Number(value)]));
      case GgufValueType.INT8:
        b.writeInt8(Number(value));
        return this.push(b.subarray(0, 1));
      case GgufValueType.UINT16:
        b.writeUInt16LE(Number(value));
        return this.push(b.subarray(0, 2));
      case GgufValueType.INT16:
        b.writeInt16LE(Number(value));
        return this.push(b.subarray(0, 2));
      case GgufValueType.UINT32:
        return this.u32(Number(value));
      case GgufValueType.INT32:
        b.writeInt32LE(Number(value));
        return this.push(b.subarray(0, 4));
      case GgufValueType.FLOAT32:
        b.writeFloatLE(Number(value));
        return this.push(b.subarray(0, 4));
      case GgufValueType.BOOL:
        return this.push(Buffer.from([value ? 1 : 0]));
      case GgufValueType.STRING:
        return this.string(String(value));
      case GgufValueType.UINT64:
        return this.u64(BigInt(value as number | bigint));
      case GgufValueType.INT64:
        b.writeBigInt64LE(BigInt(value as number | bigint));
        return this.push(b);
      case GgufValueType.FLOAT64:
        b.writeDoubleLE(Number(value));
        return this.push(b);
      default:
        throw new Error(`metadata ${key}: cannot write value type ${type as number}`);
    }
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A tensor whose bytes are produced when the writer reaches it (one tensor in memory at a time). */
export interface GgufTensorToStream {
  name: string;
  dims: number[];
  type: GgmlType;
  encode: () => Promise<Uint8Array> | Uint8Array;
}

/** The header (padded to the alignment) and each tensor's data offset, from the dims and types alone. */
function ggufHeader(
  metadata: [string, GgufValue][],
  tensors: { name: string; dims: number[]; type: GgmlType }[],
  alignment: number,
): { header: Buffer; offsets: number[]; lengths: number[] } {
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(tensors.length);
  w.u64(metadata.length);
  for (const [key, value] of metadata) {
    w.string(key);
    w.u32(value.type);
    if (value.type === GgufValueType.ARRAY) {
      w.u32(value.itemType);
      w.u64(value.value.length);
      for (const item of value.value) w.scalar(value.itemType, item, key);
    } else {
      w.scalar(value.type, value.value, key);
    }
  }
  const align = (n: number): number => Math.ceil(n / alignment) * alignment;
  let offset = 0;
  const offsets: number[] = [];
  const lengths: number[] = [];
  for (const t of tensors) {
    const length = tensorByteLength(t.type, t.dims, `tensor ${t.name}`);
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    offsets.push(offset);
    lengths.push(length);
    offset = align(offset + length);
  }
  const bytes = w.bytes();
  const header = Buffer.alloc(align(bytes.length));
  bytes.copy(header);
  return { header, offsets, lengths };
}

function checkLength(
  t: { name: string; dims: number[]; type: GgmlType },
  data: Uint8Array,
  expected: number,
): void {
  if (data.byteLength !== expected)
    throw new Error(
      `tensor ${t.name}: ${data.byteLength} bytes, ${ggmlTypeName(t.type)} ${JSON.stringify(t.dims)} needs ${expected}`,
    );
}

/** Writes a GGUF v3 file atomically; tensors in the given order, data aligned to 32 bytes. */
export function writeGguf(
  file: string,
  metadata: [string, GgufValue][],
  tensors: GgufTensorToWrite[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): void {
  const { header, offsets, lengths } = ggufHeader(metadata, tensors, alignment);
  tensors.forEach((t, i) => checkLength(t, t.data, lengths[i]!));
  writeAtomicallySync(file, (fd) => {
    writeFully(fd, header);
    let at = 0;
    tensors.forEach((t, i) => {
      if (offsets[i]! > at) writeFully(fd, new Uint8Array(offsets[i]! - at));
      writeFully(fd, t.data);
      at = offsets[i]! + t.data.byteLength;
    });
  });
}

/**
 * writeGguf for models larger than memory: the header is laid out from the dims and types, then
 * each tensor is encoded and written in turn, so only one tensor's bytes are held at a time.
 */
export async function writeGgufStreamed(
  file: string,
  metadata: [string, GgufValue][],
  tensors: GgufTensorToStream[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): Promise<void> {
  const { header, offsets, lengths } = ggufHeader(metadata, tensors, alignment);
  await writeAtomically(file, async (fd) => {
    writeFully(fd, header);
    let at = 0;
    for (let i = 0; i < tensors.length; i++) {
      const data = await tensors[i]!.encode();
      checkLength(tensors[i]!, data, lengths[i]!);
      if (offsets[i]! > at) writeFully(fd, new Uint8Array(offsets[i]! - at));
      writeFully(fd, data);
      at = offsets[i]! + data.byteLength;
    }
  });
}

// ---- typed metadata access ----

export function metaValue(g: GgufFile, key: string): GgufScalar | undefined {
  const v = g.metadata.get(key);
  if (!v) return undefined;
  if (v.type === GgufValueType.ARRAY)
    throw new ModelFormatError(`${g.file}: metadata ${key} is an array, expected one value`);
  return v.value;
}

export function metaNumber(g: GgufFile, key: string, required: true): number;
export function metaNumber(g: GgufFile, key: string, required?: false): number | undefined;
export function metaNumber(g: GgufFile, key: string, required = false): number | undefined {
  const v = metaValue(g, key);
  if (v === undefined) {
    if (required) throw new ModelFormatError(`${g.file}: metadata ${key} is missing`);
    return undefined;
  }
  if (typeof v !== 'number' && typeof v !== 'bigint')
    throw new ModelFormatError(`${g.file}: metadata ${key} is not a number`);
  return Number(v);
}

export function metaString(g: GgufFile, key: string): string | undefined {
  const v = metaValue(g, key);
  if (v !== undefined && typeof v !== 'string')
    throw new ModelFormatError(`${g.file}: metadata ${key} is not a string`);
  return v;
}

export function metaArray(g: GgufFile, key: string): GgufScalar[] | undefined {
  const v = g.metadata.get(key);
  if (!v) return undefined;
  if (v.type !== GgufValueType.ARRAY)
    throw new ModelFormatError(`${g.file}: metadata ${key} is not an array`);
  return v.value;
}
