import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { stateDir } from '../toolchain';
import { openCheckpoint } from './checkpoint';
import type { LlamaConfig } from './config';
import { type RowFail, checkRowFieldLengths, checkRowParents } from './packed-row';
import { GRAPH_VERSION, ensureCachedSubnetModel } from './export';
import { type QuantMode, linearQuant, parseQuantMode } from './quantize';
import { canonicalSubnet, subnetHash } from './subnet';
import type { PackedRow, SequenceScorer, SubnetSpec } from './types';

export interface OpenSubnetOptions {
  /** Intra-op threads of the ONNX Runtime session (default: all cores). */
  threads?: number;
  /** Cache of exported sub-networks (default: stateDir()/onnx). */
  cacheDir?: string;
  /**
   * Weight quantization of the decoder layers' linear weights (src/model/quantize.ts): 'none'
   * (float32, the default), 'int8' or 'int4' (weight-only, block-wise MatMulNBits computing in
   * float32), 'int8-a8' or 'int4-a8' (MatMulNBits with int8 activations), 'int8-dq'
   * (DynamicQuantizeMatMul, per-column scales, uint8 activations); embedding, norms and lm_head
   * stay float32.
   */
  quant?: string;
  /** Block size of the block-wise modes (int4: default 32, int8: default 128). */
  quantBlockSize?: number;
  /**
   * Upper bound on batch size x padded length per session run (default 4096). Not used by
   * DynamicQuantizeMatMul (int8-dq) sessions: they run one row per call (see openSubnet).
   */
  maxBatchTokens?: number;
}

/** Additive attention bias for masked pairs: finite so fully padded rows never produce NaN. */
export const MASKED = -1e30;

export class PackedRowError extends Error {
  override name = 'PackedRowError';
}

/** A loaded sub-network: scores packed rows and, for checks, returns raw logits. */
export interface SubnetSession extends SequenceScorer {
  readonly spec: SubnetSpec;
  readonly hash: string;
  readonly quant: QuantMode;
  readonly modelPath: string;
  readonly config: LlamaConfig;
  /** Intra-op threads of the session (stated with every speed figure). */
  readonly threads: number;
  /** Logits [length x vocab] of plain causal sequences (positions 0..n-1). */
  logits(sequences: number[][]): Promise<Float32Array[]>;
}

interface Batch {
  rows: number[];
  length: number;
}

/** Groups rows (longest first) so that batch size x padded length stays within the budget. */
function planBatches(lengths: number[], maxBatchTokens: number): Batch[] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const batches: Batch[] = [];
  for (const i of order) {
    const current = batches.at(-1);
    if (current && (current.rows.length + 1) * current.length <= maxBatchTokens) current.rows.push(i);
    else batches.push({ rows: [i], length: lengths[i]! });
  }
  return batches;
}

function validateRow(row: PackedRow, index: number, config: LlamaConfig, maxLength: number): void {
  const n = row.tokens.length;
  const fail: RowFail = (msg) => {
    throw new PackedRowError(`row ${index}: ${msg}`);
  };
  if (n === 0) fail('no tokens');
  if (n > maxLength) fail(`${n} tokens, more than the model's ${maxLength}`);
  checkRowFieldLengths(row, fail);
  row.tokens.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= config.vocabSize)
      fail(`tokens[${i}] = ${t} is outside 0..${config.vocabSize - 1}`);
  });
  for (let i = 0; i < n; i++) {
    const g = row.targets[i]!;
    if (!Number.isInteger(g) || g < -1 || g >= config.vocabSize)
      fail(`targets[${i}] = ${g} is outside -1..${config.vocabSize - 1}`);
    const p = row.positions[i]!;
    if (!Number.isInteger(p) || p < 0 || p >= config.maxPositionEmbeddings) {
      fail(`positions[${i}] = ${p} is outside 0..${config.maxPositionEmbeddings - 1}`);
    }
    if (!Number.isInteger(row.segments[i]) || row.segments[i]! < 0)
      fail(`segments[${i}] must be a non-negative integer`);
  }
  if (row.parents) {
    const parents = row.parents;
    checkRowParents(parents, fail);
    row.segments.forEach((s, i) => {
      if (s >= parents.length) fail(`segments[${i}] = ${s} has no entry in parents`);
    });
  }
}

/** For each segment of a row, the set of segments its tokens see (itself and its ancestors). */
export function visibleSegments(row: PackedRow): (s: number, t: number) => boolean {
  const parents = row.parents;
  if (!parents) return (si, sj) => sj === 0 || sj === si;
  const ancestors = parents.map((_, s) => {
    const set = new Set<number>();
    for (let a = s; a >= 0; a = parents[a]!) set.add(a);
    return set;
  });
  return (si, sj) => ancestors[si]!.has(sj);
}

/** The positions of a row whose target is wanted (targets[i] >= 0), in order. */
export function scoredPositions(row: PackedRow): number[] {
  const out: number[] = [];
  row.targets.forEach((t, i) => {
    if (t >= 0) out.push(i);
  });
  return out;
}

/**
 * The feeds of one padded batch; rows are padded at the end, a padding token sees only itself.
 * `score_index` lists each row's scored positions (targets >= 0), padded with position 0, so the
 * head runs only there; with `everyPosition` it lists all `length` positions (for logits).
 */
export function packBatch(rows: PackedRow[], length: number, everyPosition = false): Record<string, Tensor> {
  const b = rows.length;
  const scored = rows.map((row) =>
    everyPosition ? Array.from({ length }, (_, i) => i) : scoredPositions(row),
  );
  const width = Math.max(1, ...scored.map((s) => s.length));
  const ids = new BigInt64Array(b * length);
  const pos = new BigInt64Array(b * length);
  const index = new BigInt64Array(b * width);
  const tgt = new BigInt64Array(b * width);
  const bias = new Float32Array(b * length * length).fill(MASKED);
  rows.forEach((row, r) => {
    const n = row.tokens.length;
    const sees = visibleSegments(row);
    const segmentCount = Math.max(...row.segments) + 1;
    // segment x segment visibility, looked up in the quadratic loop below
    const table = new Uint8Array(segmentCount * segmentCount);
    for (let si = 0; si < segmentCount; si++)
      for (let sj = 0; sj < segmentCount; sj++) table[si * segmentCount + sj] = sees(si, sj) ? 1 : 0;
    for (let i = 0; i < length; i++) {
      const at = r * length + i;
      const base = (r * length + i) * length;
      if (i >= n) {
        bias[base + i] = 0;
        continue;
      }
      ids[at] = BigInt(row.tokens[i]!);
      pos[at] = BigInt(row.positions[i]!);
      const rowOfTable = row.segments[i]! * segmentCount;
      for (let j = 0; j <= i; j++) {
        if (table[rowOfTable + row.segments[j]!] === 1) bias[base + j] = 0;
      }
    }
    scored[r]!.forEach((i, k) => {
      index[r * width + k] = BigInt(i);
      tgt[r * width + k] = BigInt(Math.max(0, row.targets[i] ?? 0));
    });
  });
  return {
    input_ids: new Tensor('int64', ids, [b, length]),
    position_ids: new Tensor('int64', pos, [b, length]),
    attention_bias: new Tensor('float32', bias, [b, 1, length, length]),
    score_index: new Tensor('int64', index, [b, width]),
    target_ids: new Tensor('int64', tgt, [b, width]),
  };
}

/** The ONNX Runtime session options used for sub-networks. */
export function sessionOptions(threads?: number): InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads ?? availableParallelism(),
    interOpNumThreads: 1,
    enableCpuMemArena: true,
    // shapes change from batch to batch
    enableMemPattern: false,
    // no QDQ fusions: a DequantizeLinear of constant weight codes (int8, weight-only) is folded
    // into float weights and multiplied in float32, as the torch backend computes it, instead of
    // being fused into a kernel that also quantizes the activations
    extra: { session: { disable_quant_qdq: '1' } },
  };
}

/**
 * Opens a sub-network of the checkpoint in `modelDir` for scoring: exports it to ONNX (cached
 * under the checkpoint's identity and the sub-network's hash) and loads it into ONNX Runtime.
 */
export async function openSubnet(
  modelDir: string,
  spec: SubnetSpec,
  opts: OpenSubnetOptions = {},
): Promise<SubnetSession> {
  const quant = parseQuantMode(opts.quant);
  const ckpt = await openCheckpoint(modelDir);
  const canonical = canonicalSubnet(spec, ckpt.config);
  const cacheRoot = opts.cacheDir ?? join(stateDir(), 'onnx');
  const modelPath = await ensureCachedSubnetModel(
    ckpt,
    canonical,
    join(cacheRoot, `${ckpt.identity}-g${GRAPH_VERSION}`),
    quant,
    opts.quantBlockSize !== undefined ? { blockSize: opts.quantBlockSize } : {},
  );
  const threads = opts.threads ?? availableParallelism();
  const session = await InferenceSession.create(modelPath, sessionOptions(threads));
  const config = ckpt.config;
  const maxLength = config.maxPositionEmbeddings;
  // DynamicQuantizeMatMul quantizes its activations with one uint8 scale and zero point over its
  // whole input tensor [batch, length, hidden], padding and the other rows included: batched, a
  // row's int8 scores would depend on which rows share its batch (measured on SmolLM2-135M: up to
  // 2.8 in log-likelihood). Such sessions run each row in its own call (a batch of one, so no
  // padding): the range is the row's own, as the torch backend emulates it (trainer quant.py).
  const perRowActivations = linearQuant(quant)?.kernel === 'DynamicQuantizeMatMul';
  const maxBatchTokens = perRowActivations ? 0 : (opts.maxBatchTokens ?? 4096);

  const runBatches = async <T>(
    rows: PackedRow[],
    fetch: 'target_logprobs' | 'logits',
    take: (data: Float32Array, r: number, width: number, row: PackedRow) => T,
  ): Promise<T[]> => {
    rows.forEach((row, i) => validateRow(row, i, config, maxLength));
    const out = new Array<T>(rows.length);
    for (const batch of planBatches(
      rows.map((r) => r.tokens.length),
      maxBatchTokens,
    )) {
      const batchRows = batch.rows.map((i) => rows[i]!);
      const feeds = packBatch(batchRows, batch.length, fetch === 'logits');
      const width = feeds.score_index!.dims[1]!;
      const result = await session.run(feeds, [fetch]);
      const data = result[fetch]!.data as Float32Array;
      batch.rows.forEach((rowIndex, r) => {
        out[rowIndex] = take(data, r, width, rows[rowIndex]!);
      });
    }
    return out;
  };

  return {
    spec: canonical,
    hash: subnetHash(canonical),
    quant,
    modelPath,
    config,
    threads,
    maxLength,
    scorePacked: (rows) =>
      runBatches(rows, 'target_logprobs', (data, r, width, row) => {
        const scores = new Float32Array(row.tokens.length).fill(NaN);
        scoredPositions(row).forEach((i, k) => (scores[i] = data[r * width + k]!));
        return scores;
      }),
    logits: (sequences) =>
      runBatches(
        sequences.map((tokens) => ({
          tokens,
          positions: tokens.map((_, i) => i),
          segments: tokens.map(() => 0),
          targets: tokens.map(() => -1),
        })),
        'logits',
        (data, r, width, row) => {
          const v = config.vocabSize;
          return data.slice(r * width * v, (r * width + row.tokens.length) * v);
        },
      ),
    close: () => session.release(),
  };
}
