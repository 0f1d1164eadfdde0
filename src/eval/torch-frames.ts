import { type RowFail, checkRowFieldLengths, checkRowParents } from '../model/packed-row';
import type { PackedRow } from '../model/types';

/**
 * The frames of the PyTorch scoring server (trainer/llama_nas_trainer/scoring.py):
 *
 *   uint32 LE total length | uint32 LE header length | UTF-8 JSON header | binary body
 *
 * The header is a small JSON object (the op and its arguments, or the reply's status); rows travel
 * in the body as little-endian int32 arrays and scores come back as little-endian float32.
 */
export interface Frame {
  header: Record<string, unknown>;
  body: Buffer;
}

export function encodeFrame(header: Record<string, unknown>, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(4 + h.length + body.length, 0);
  prefix.writeUInt32LE(h.length, 4);
  return Buffer.concat([prefix, h, body]);
}

/** Collects stdout chunks and yields whole frames. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.size < 4) break;
      let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.chunks = [buf];
      const total = buf.readUInt32LE(0);
      if (this.size < 4 + total) break;
      const hlen = buf.readUInt32LE(4);
      const header = JSON.parse(buf.toString('utf8', 8, 8 + hlen)) as Record<string, unknown>;
      const body = Buffer.from(buf.subarray(8 + hlen, 4 + total));
      frames.push({ header, body });
      buf = buf.subarray(4 + total);
      this.chunks = buf.length ? [buf] : [];
      this.size = buf.length;
    }
    return frames;
  }
}

/** A row problem the client catches before sending (the server checks ids and lengths again). */
export class TorchRowError extends Error {
  override name = 'PackedRowError';
}

function checkRow(row: PackedRow, r: number): void {
  const n = row.tokens.length;
  const fail: RowFail = (msg) => {
    throw new TorchRowError(`row ${r}: ${msg}`);
  };
  if (n === 0) fail('no tokens');
  checkRowFieldLengths(row, fail);
  const maxSeg = row.segments.reduce((m, s) => {
    if (!Number.isInteger(s) || s < 0) fail(`segments must be non-negative integers (got ${s})`);
    return Math.max(m, s);
  }, 0);
  if (row.parents) {
    checkRowParents(row.parents, fail);
    if (maxSeg >= row.parents.length) fail(`segment ${maxSeg} has no entry in parents`);
  }
}

/** The header fields and int32 body of a `score` request. */
export function encodeRows(rows: PackedRow[]): { lengths: number[]; parentCounts: number[]; body: Buffer } {
  rows.forEach(checkRow);
  const lengths = rows.map((r) => r.tokens.length);
  const parentCounts = rows.map((r) => r.parents?.length ?? 0);
  const total = lengths.reduce((a, b) => a + b, 0);
  const parents = parentCounts.reduce((a, b) => a + b, 0);
  const out = new Int32Array(4 * total + parents);
  let at = 0;
  for (const field of ['tokens', 'positions', 'segments', 'targets'] as const) {
    for (const row of rows) {
      out.set(row[field], at);
      at += row[field].length;
    }
  }
  for (const row of rows) {
    if (row.parents) {
      out.set(row.parents, at);
      at += row.parents.length;
    }
  }
  return { lengths, parentCounts, body: Buffer.from(out.buffer, out.byteOffset, out.byteLength) };
}

/** Splits a reply's float32 body into one array per row. */
export function decodeScores(body: Buffer, lengths: number[]): Float32Array[] {
  const total = lengths.reduce((a, b) => a + b, 0);
  if (body.length !== 4 * total)
    throw new Error(`scoring server returned ${body.length} bytes for ${total} values`);
  // copy: the reply buffer may not be 4-byte aligned
  const all = new Float32Array(total);
  Buffer.from(all.buffer).set(body);
  const out: Float32Array[] = [];
  let at = 0;
  for (const n of lengths) {
    out.push(all.slice(at, at + n));
    at += n;
  }
  return out;
}
