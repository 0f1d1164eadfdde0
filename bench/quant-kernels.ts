import { InferenceSession, Tensor } from 'onnxruntime-node';
import { GraphBuilder, OnnxType } from '../src/model/onnx';
import {
  type LinearQuant,
  dequantize,
  dequantizePerColumn,
  quantTag,
  quantizeBlockwise,
  quantizePerColumn,
} from '../src/model/quantize';
import { seededRandom } from '../src/model/random';
import { sessionOptions } from '../src/model/runtime';
import { summarizeTimings, timeRuns } from '../src/model/throughput';

/**
 * One linear layer y = x W^T (x [m, k], W [n, k]) as a one-node ONNX model: float MatMul or a
 * quantized kernel; its run time by the throughput protocol and its error against float.
 */
export interface KernelFigure {
  kernel: string;
  shape: { m: number; k: number; n: number };
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** float median / this median. */
  speedup: number;
  /** max |y - y_float| / max |y_float|. */
  relError: number;
  /** The error the stored weights alone imply (dequantized weights in float): kernel error beyond it is the activations'. */
  weightRelError: number;
}

function linearModel(
  m: number,
  k: number,
  n: number,
  w: Float32Array,
  quant: LinearQuant | undefined,
): Uint8Array {
  const g = new GraphBuilder();
  g.input('x', OnnxType.FLOAT, [m, k]);
  if (!quant) {
    const wt = new Float32Array(k * n);
    for (let j = 0; j < n; j++) for (let i = 0; i < k; i++) wt[i * n + j] = w[j * k + i]!;
    const b = g.constTensor(OnnxType.FLOAT, [k, n], new Uint8Array(wt.buffer));
    g.node('MatMul', ['x', b], {}, 'y');
  } else if (quant.kernel === 'DynamicQuantizeMatMul') {
    const q = quantizePerColumn(w, n, k, quant.scheme);
    const b = g.constTensor(OnnxType.INT8, [k, n], new Uint8Array(q.codes.buffer));
    const s = g.constTensor(OnnxType.FLOAT, [n], new Uint8Array(q.scales.buffer));
    g.nodeN('DynamicQuantizeMatMul', ['x', b, s], {}, ['y'], 'com.microsoft');
  } else if (quant.kernel === 'DequantizeLinear') {
    const q = quantizePerColumn(w, n, k, quant.scheme);
    const b = g.constTensor(OnnxType.INT8, [k, n], new Uint8Array(q.codes.buffer));
    const s = g.constTensor(OnnxType.FLOAT, [n], new Uint8Array(q.scales.buffer));
    g.node('MatMul', ['x', g.node('DequantizeLinear', [b, s], { axis: 1 })], {}, 'y');
  } else {
    const q = quantizeBlockwise(w, n, k, quant.scheme);
    const { bits, blockSize, accuracyLevel } = quant.scheme;
    const b = g.constTensor(OnnxType.UINT8, [n, q.blocks, (blockSize * bits) / 8], q.packed);
    const s = g.constTensor(OnnxType.FLOAT, [n * q.blocks], new Uint8Array(q.scales.buffer));
    const attrs = { K: k, N: n, bits, block_size: blockSize, accuracy_level: accuracyLevel };
    g.nodeN('MatMulNBits', ['x', b, s], attrs, ['y'], 'com.microsoft');
  }
  g.output('y', OnnxType.FLOAT, [m, n]);
  return g.encode({
    graphName: 'linear',
    opsets: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
  });
}

function storedWeights(w: Float32Array, n: number, k: number, quant: LinearQuant | undefined): Float32Array {
  if (!quant) return w;
  if (quant.kernel !== 'MatMulNBits') return dequantizePerColumn(quantizePerColumn(w, n, k, quant.scheme));
  return dequantize(quantizeBlockwise(w, n, k, quant.scheme), quant.scheme);
}

function reference(x: Float32Array, w: Float32Array, m: number, k: number, n: number): Float64Array {
  const y = new Float64Array(m * n);
  for (let r = 0; r < m; r++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let i = 0; i < k; i++) acc += x[r * k + i]! * w[j * k + i]!;
      y[r * n + j] = acc;
    }
  return y;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return worst / scale;
}

/** Float and quantized kernels on one shape; activations like RMS-normed hidden states (heavy-ish tails). */
export async function compareKernels(
  shape: { m: number; k: number; n: number },
  quants: (LinearQuant | undefined)[],
  opts: { threads: number; warmup: number; repeats: number; seed: number },
): Promise<KernelFigure[]> {
  const { m, k, n } = shape;
  const rand = seededRandom(opts.seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const w = Float32Array.from({ length: n * k }, () => normal() / Math.sqrt(k));
  const x = Float32Array.from({ length: m * k }, () => normal() * (rand() < 0.01 ? 8 : 1));
  // the exact product is only needed on a few rows
  const rows = Math.min(m, 16);
  const exact = reference(x.subarray(0, rows * k), w, rows, k, n);
  const figures: KernelFigure[] = [];
  let floatMedian = NaN;
  for (const quant of quants) {
    const session = await InferenceSession.create(
      linearModel(m, k, n, w, quant),
      sessionOptions(opts.threads),
    );
    const feeds = { x: new Tensor('float32', x, [m, k]) };
    let y: Float32Array | undefined;
    const runs = await timeRuns(async () => {
      y = (await session.run(feeds)).y!.data as Float32Array;
    }, opts);
    await session.release();
    const t = summarizeTimings(runs);
    if (!quant) floatMedian = t.median;
    const stored = reference(x.subarray(0, rows * k), storedWeights(w, n, k, quant), rows, k, n);
    figures.push({
      kernel: quant ? quantTag(quant) : 'float MatMul',
      shape,
      medianMs: t.median * 1000,
      minMs: t.min * 1000,
      maxMs: t.max * 1000,
      speedup: floatMedian / t.median,
      relError: relDiff(y!.subarray(0, rows * n), exact),
      weightRelError: relDiff(stored, exact),
    });
  }
  return figures;
}

/**
 * Float (undefined); weight-only int8 (DequantizeLinear + MatMul, the campaign's int8);
 * DynamicQuantizeMatMul (codes to 127, and reduced range to 63); MatMulNBits at 8 and 4 bits,
 * weight-only (accuracy level 0; 4 bits is the campaign's int4) and with int8 activations (level 4).
 */
export const KERNEL_CANDIDATES: (LinearQuant | undefined)[] = [
  undefined,
  { kernel: 'DynamicQuantizeMatMul', scheme: { qmax: 127 } },
  { kernel: 'DynamicQuantizeMatMul', scheme: { qmax: 63 } },
  { kernel: 'DequantizeLinear', scheme: { qmax: 127 } },
  { kernel: 'MatMulNBits', scheme: { bits: 8, blockSize: 128, accuracyLevel: 0 } },
  { kernel: 'MatMulNBits', scheme: { bits: 4, blockSize: 32, accuracyLevel: 0 } },
  { kernel: 'MatMulNBits', scheme: { bits: 8, blockSize: 128, accuracyLevel: 4 } },
  { kernel: 'MatMulNBits', scheme: { bits: 8, blockSize: 32, accuracyLevel: 4 } },
  { kernel: 'MatMulNBits', scheme: { bits: 4, blockSize: 32, accuracyLevel: 4 } },
];

/** The int8 and int4 kernels against float on single linear layers (bench quant runs the same on more shapes). */
export async function run({ json }: { json: boolean }): Promise<void> {
  const quants = KERNEL_CANDIDATES;
  const shapes = (process.env.BENCH_KERNEL_SHAPES ?? '1024x128x128,1024x128x344,512x512x1408,128x4096x4096')
    .split(',')
    .map((s) => s.split('x').map(Number) as [number, number, number]);
  const all: KernelFigure[] = [];
  for (const [m, k, n] of shapes) {
    for (const f of await compareKernels({ m, k, n }, quants, {
      threads: 1,
      warmup: 2,
      repeats: 7,
      seed: 1,
    })) {
      all.push(f);
      if (!json)
        console.log(
          `${m}x${k}x${n} ${f.kernel.padEnd(14)} ${f.medianMs.toFixed(2).padStart(8)} ms [${f.minMs.toFixed(2)}-${f.maxMs.toFixed(2)}] ` +
            `x${f.speedup.toFixed(2)} err ${f.relError.toExponential(2)} (weights ${f.weightRelError.toExponential(2)})`,
        );
    }
  }
  if (json) console.log(JSON.stringify({ threads: 1, kernels: all }));
}

if (require.main === module) {
  run({ json: process.argv.includes('--json') }).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
