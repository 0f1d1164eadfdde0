import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { writeCheckpoint } from '../src/model/checkpoint';
import type { LlamaConfig } from '../src/model/config';
import { GraphBuilder, OnnxType } from '../src/model/onnx';
import { randomWeights, seededRandom } from '../src/model/random';
import { openSubnet, sessionOptions } from '../src/model/runtime';
import { countParameters } from '../src/model/size';
import type { PackedRow, SubnetSpec } from '../src/model/types';

/**
 * Forward speed of the full network and the smallest sub-network of a small random LLaMA
 * (the paper's search space scaled down: 3/4 of the layers, half the MLP width), and the
 * FLOP/s they achieve next to a plain large ONNX MatMul in the same run and thread setting.
 */
export const BENCH_MODEL_CONFIG: LlamaConfig = {
  vocabSize: 8000,
  hiddenSize: 512,
  intermediateSize: 1408,
  numLayers: 8,
  numHeads: 8,
  numKvHeads: 8,
  headDim: 64,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  tieWordEmbeddings: false,
  maxPositionEmbeddings: 512,
};
const BATCH = 4;
const SEQUENCE = 128;
const WARMUP = 1;
const REPEATS = 5;

interface Timing {
  medianS: number;
  minS: number;
  maxS: number;
}

async function time(fn: () => Promise<unknown>): Promise<Timing> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t0 = performance.now();
    await fn();
    runs.push((performance.now() - t0) / 1000);
  }
  runs.sort((a, b) => a - b);
  return { medianS: runs[Math.floor(runs.length / 2)]!, minS: runs[0]!, maxS: runs.at(-1)! };
}

/** Multiply-adds x 2 of one forward pass over `tokens` tokens in rows of `sequence` (attention computed densely). */
function forwardFlops(config: LlamaConfig, spec: SubnetSpec, rows: number, sequence: number): number {
  const p = countParameters(config, spec);
  const matmulParams = p.decoderLinear + config.vocabSize * config.hiddenSize; // lm_head; embedding is a lookup
  const attention = spec.layers * 2 * 2 * sequence * sequence * config.numHeads * config.headDim;
  return rows * (2 * matmulParams * sequence + attention);
}

async function matmulFlops(
  threads?: number,
): Promise<{ flopsPerS: number; timing: Timing; shape: number[] }> {
  const [m, k, n] = [512, 2048, 2048];
  const g = new GraphBuilder();
  const a = g.input('a', OnnxType.FLOAT, [m, k]);
  const rand = seededRandom(7);
  const b = g.constFloat(
    Float32Array.from({ length: k * n }, () => rand() - 0.5),
    [k, n],
  );
  g.node('MatMul', [a, b], {}, 'c');
  g.output('c', OnnxType.FLOAT, [m, n]);
  const model = g.encode({ graphName: 'matmul', opsets: [{ domain: '', version: 17 }] });
  const session = await InferenceSession.create(model, sessionOptions(threads));
  const input = new Tensor(
    'float32',
    Float32Array.from({ length: m * k }, () => rand() - 0.5),
    [m, k],
  );
  const timing = await time(() => session.run({ a: input }));
  await session.release();
  return { flopsPerS: (2 * m * k * n) / timing.medianS, timing, shape: [m, k, n] };
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-model-'));
  try {
    const modelDir = join(dir, 'model');
    writeCheckpoint(modelDir, BENCH_MODEL_CONFIG, randomWeights(BENCH_MODEL_CONFIG, 1));
    const rand = seededRandom(2);
    const rows: PackedRow[] = Array.from({ length: BATCH }, () => {
      const tokens = Array.from({ length: SEQUENCE }, () =>
        Math.floor(rand() * BENCH_MODEL_CONFIG.vocabSize),
      );
      return {
        tokens,
        positions: tokens.map((_, i) => i),
        segments: tokens.map(() => 0),
        targets: tokens.map((_, i) => tokens[i + 1] ?? -1),
      };
    });
    const smallestLayers = Math.ceil((BENCH_MODEL_CONFIG.numLayers * 3) / 4);
    const specs: Record<string, SubnetSpec> = {
      full: {
        layers: BENCH_MODEL_CONFIG.numLayers,
        intermediate: Array<number>(BENCH_MODEL_CONFIG.numLayers).fill(BENCH_MODEL_CONFIG.intermediateSize),
      },
      smallest: {
        layers: smallestLayers,
        intermediate: Array<number>(smallestLayers).fill(BENCH_MODEL_CONFIG.intermediateSize / 2),
      },
    };
    const matmul = await matmulFlops();
    const results: Record<string, unknown> = {};
    const lines: string[] = [];
    for (const [name, spec] of Object.entries(specs)) {
      const session = await openSubnet(modelDir, spec, {
        cacheDir: join(dir, 'cache'),
        maxBatchTokens: BATCH * SEQUENCE,
      });
      const timing = await time(() => session.scorePacked(rows));
      await session.close();
      const tokens = BATCH * SEQUENCE;
      const flopsPerS = forwardFlops(BENCH_MODEL_CONFIG, spec, BATCH, SEQUENCE) / timing.medianS;
      const entry = {
        layers: spec.layers,
        parameters: countParameters(BENCH_MODEL_CONFIG, spec).total,
        tokensPerS: tokens / timing.medianS,
        tokensPerSRange: [tokens / timing.maxS, tokens / timing.minS],
        gflopsPerS: flopsPerS / 1e9,
        ratioToMatMul: flopsPerS / matmul.flopsPerS,
      };
      results[name] = entry;
      lines.push(
        `${name.padEnd(8)} ${spec.layers} layers, ${(entry.parameters / 1e6).toFixed(1)}M parameters: ` +
          `${entry.tokensPerS.toFixed(0)} tokens/s (${entry.tokensPerSRange[0]!.toFixed(0)}..${entry.tokensPerSRange[1]!.toFixed(0)}), ` +
          `${entry.gflopsPerS.toFixed(2)} GFLOP/s = ${(entry.ratioToMatMul * 100).toFixed(0)}% of the plain MatMul`,
      );
    }
    const full = results.full as { tokensPerS: number };
    const smallest = results.smallest as { tokensPerS: number };
    const summary = {
      model: BENCH_MODEL_CONFIG,
      batch: BATCH,
      sequence: SEQUENCE,
      repeats: REPEATS,
      matmul: { shape: matmul.shape, gflopsPerS: matmul.flopsPerS / 1e9 },
      ...results,
      smallestSpeedup: smallest.tokensPerS / full.tokensPerS,
    };
    if (json) console.log(JSON.stringify(summary));
    else {
      console.log(
        `forward of a ${BENCH_MODEL_CONFIG.numLayers}-layer random LLaMA (hidden ${BENCH_MODEL_CONFIG.hiddenSize}, vocab ${BENCH_MODEL_CONFIG.vocabSize}), ` +
          `${BATCH} x ${SEQUENCE} tokens, median of ${REPEATS}:`,
      );
      for (const line of lines) console.log(`  ${line}`);
      console.log(`  plain MatMul ${matmul.shape.join('x')}: ${(matmul.flopsPerS / 1e9).toFixed(2)} GFLOP/s`);
      console.log(`  smallest / full tokens/s: ${summary.smallestSpeedup.toFixed(2)}x`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
