import { statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import { ModelFormatError } from './config';
import { writeAtomicallySync, writeFully } from '../fsutil';
import { zodErrorText } from '../zod-error';

/** Floating-point storage types of checkpoint tensors. */
export type WeightDtype = 'F32' | 'F16' | 'BF16';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['F32', 'F16', 'BF16'];
export const DTYPE_SIZE: Record<WeightDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** One tensor of a .safetensors file, with absolute byte offsets into that file. */
export interface SafetensorsEntry {
  file: string;
  name: string;
  dtype: WeightDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

const HeaderEntrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reads and validates the header of a .safetensors file (no tensor data). */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    throw new ModelFormatError(`${file}: missing or unreadable`);
  }
  try {
    const { size } = await handle.stat();
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || (await handle.read(lenBuf, 0, 8, 0)).bytesRead !== 8) {
      throw new ModelFormatError(`${file}: too short to be a safetensors file`);
    }
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
      throw new ModelFormatError(`${file}: header length ${headerLen} does not fit the file (${size} bytes)`);
    }
    const headerBuf = Buffer.alloc(headerLen);
    await handle.read(headerBuf, 0, headerLen, 8);
    let json: unknown;
    try {
      json = JSON.parse(headerBuf.toString('utf8'));
    } catch (err) {
      throw new ModelFormatError(`${file}: header is not valid JSON (${(err as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new ModelFormatError(`${file}: header is not a JSON object`);
    }
    const dataStart = 8 + headerLen;
    const entries = new Map<string, SafetensorsEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
      if (name === '__metadata__') {
        const m = z.record(z.string(), z.string()).safeParse(raw);
        if (!m.success) throw new ModelFormatError(`${file}: __metadata__ must map strings to strings`);
        metadata = m.data;
        continue;
      }
      const e = HeaderEntrySchema.safeParse(raw);
      if (!e.success) {
        throw new ModelFormatError(
          `${file}: tensor ${name}: malformed header entry (${zodErrorText(e.error)})`,
        );
      }
      const { dtype, shape, data_offsets } = e.data;
      if (!(WEIGHT_DTYPES as readonly string[]).includes(dtype)) {
        throw new ModelFormatError(
          `${file}: tensor ${name}: dtype ${dtype} is not one of ${WEIGHT_DTYPES.join(', ')}`,
        );
      }
      const [from, to] = data_offsets;
      const expected = elementCount(shape) * DTYPE_SIZE[dtype as WeightDtype];
      if (to - from !== expected) {
        throw new ModelFormatError(
          `${file}: tensor ${name}: data_offsets span ${to - from} bytes, but ${dtype} ${JSON.stringify(shape)} needs ${expected}`,
        );
      }
      if (dataStart + to > size) {
        throw new ModelFormatError(
          `${file}: tensor ${name}: data runs past the end of the file (file truncated?)`,
        );
      }
      entries.set(name, {
        file,
        name,
        dtype: dtype as WeightDtype,
        shape,
        begin: dataStart + from,
        end: dataStart + to,
      });
    }
    return { entries, metadata };
  } finally {
    await handle.close();
  }
}

// IEEE half <-> single conversions (Node 20 has no Float16Array).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Round-to-nearest-even float32 -> float16 bits. */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && r & 1)) r += 1;
    return sign | r;
  }
  let r = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) {
    r += 1;
    if (r === 0x400) {
      r = 0;
      e += 1;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** Round-to-nearest-even float32 -> bfloat16 bits. */
export function floatToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Decodes little-endian tensor bytes to float32. */
export function decodeToFloat32(bytes: Uint8Array, dtype: WeightDtype): Float32Array {
  const n = bytes.byteLength / DTYPE_SIZE[dtype];
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  } else {
    const o32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) o32[i] = view.getUint16(i * 2, true) << 16;
  }
  return out;
}

/** Encodes float32 values to little-endian bytes of `dtype`. */
export function encodeFromFloat32(values: Float32Array, dtype: WeightDtype): Uint8Array {
  const out = new Uint8Array(values.length * DTYPE_SIZE[dtype]);
  const view = new DataView(out.buffer);
  if (dtype === 'F32') {
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  } else {
    const conv = dtype === 'F16' ? floatToHalf : floatToBfloat16;
    for (let i = 0; i < values.length; i++) view.setUint16(i * 2, conv(values[i]!), true);
  }
  return out;
}

/** Reads one tensor as float32. */
export async function readTensorFloat32(entry: SafetensorsEntry): Promise<Float32Array> {
  const handle = await open(entry.file, 'r');
  try {
    const bytes = new Uint8Array(entry.end - entry.begin);
    let done = 0;
    while (done < bytes.length) {
      const { bytesRead } = await handle.read(bytes, done, bytes.length - done, entry.begin + done);
      if (bytesRead === 0)
        throw new ModelFormatError(`${entry.file}: tensor ${entry.name}: unexpected end of file`);
      done += bytesRead;
    }
    return decodeToFloat32(bytes, entry.dtype);
  } finally {
    await handle.close();
  }
}

export interface TensorToWrite {
  name: string;
  dtype: WeightDtype;
  shape: number[];
  data: Float32Array;
}

/** Writes a .safetensors file atomically (temp file + rename); returns the bytes of tensor data. */
export function writeSafetensors(
  file: string,
  tensors: TensorToWrite[],
  metadata?: Record<string, string>,
): number {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (elementCount(t.shape) !== t.data.length) {
      throw new Error(
        `tensor ${t.name}: shape ${JSON.stringify(t.shape)} does not match ${t.data.length} values`,
      );
    }
    const len = t.data.length * DTYPE_SIZE[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let headerText = JSON.stringify(header);
  // pad so tensor data starts 8-byte aligned, as the reference writer does
  headerText += ' '.repeat((8 - (Buffer.byteLength(headerText) % 8)) % 8);
  const headerBytes = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  writeAtomicallySync(file, (fd) => {
    writeFully(fd, len);
    writeFully(fd, headerBytes);
    for (const t of tensors) writeFully(fd, encodeFromFloat32(t.data, t.dtype));
  });
  return offset;
}

export function fileSize(file: string): number {
  return statSync(file).size;
}
