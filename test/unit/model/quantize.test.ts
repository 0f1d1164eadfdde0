/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { openCheckpoint } from '../../../src/model/checkpoint';
import { exportSubnet, measureExport } from '../../../src/model/export';
import { GraphBuilder, OnnxType } from '../../../src/model/onnx';
import {
  DQ_SCHEME,
  WEIGHT_ONLY_INT8_SCHEME,
  type QuantScheme,
  QUANT_SCHEMES,
  dequantize,
  dequantizePerColumn,
  linearQuant,
  quantizeBlockwise,
  quantizePerColumn,
} from '../../../src/model/quantize';
import { seededRandom } from '../../../src/model/random';
import { openSubnet, sessionOptions } from '../../../src/model/runtime';
import { countParameters, modelSize, presetConfig, quantizedModelSize } from '../../../src/model/size';
import { tinyConfig, writeRandomCheckpoint } from '../../fixtures/model/random-checkpoint';

const rand = seededRandom(42);
const randomMatrix = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

describe('block-wise quantization', () => {
  it.each([
    [8, 16],
    [4, 16],
    [4, 32],
  ] as const)('%i bits, block %i: error within half a step, blocks padded', (bits, blockSize) => {
    const scheme: QuantScheme = { bits, blockSize, accuracyLevel: 0 };
    const [n, k] = [3, 40];
    const w = randomMatrix(n * k);
    const q = quantizeBlockwise(w, n, k, scheme);
    expect(q.blocks).toBe(Math.ceil(k / blockSize));
    expect(q.packed.length).toBe((n * q.blocks * blockSize * bits) / 8);
    const back = dequantize(q, scheme);
    for (let i = 0; i < w.length; i++) {
      const scale = q.scales[Math.floor(i / k) * q.blocks + Math.floor((i % k) / blockSize)]!;
      expect(Math.abs(back[i]! - w[i]!)).toBeLessThanOrEqual(scale / 2 + 1e-7);
    }
  });

  it.each([8, 4] as const)('matches ONNX Runtime MatMulNBits (%i bits, float compute)', async (bits) => {
    const scheme: QuantScheme = { bits, blockSize: 16, accuracyLevel: 0 };
    const [m, n, k] = [3, 5, 40];
    const w = randomMatrix(n * k);
    const a = randomMatrix(m * k);
    const q = quantizeBlockwise(w, n, k, scheme);
    const dq = dequantize(q, scheme);
    const g = new GraphBuilder();
    g.input('a', OnnxType.FLOAT, [m, k]);
    const b = g.constTensor(OnnxType.UINT8, [n, q.blocks, (16 * bits) / 8], q.packed);
    const s = g.constTensor(OnnxType.FLOAT, [n * q.blocks], new Uint8Array(q.scales.buffer));
    const attrs = { K: k, N: n, bits, block_size: 16, accuracy_level: 0 };
    g.nodeN('MatMulNBits', ['a', b, s], attrs, ['c'], 'com.microsoft');
    g.output('c', OnnxType.FLOAT, [m, n]);
    const model = g.encode({
      graphName: 't',
      opsets: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
    });
    const session = await InferenceSession.create(model);
    const out = (await session.run({ a: new Tensor('float32', a, [m, k]) })).c!.data as Float32Array;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let t = 0; t < k; t++) acc += a[i * k + t]! * dq[j * k + t]!;
        expect(Math.abs(acc - out[i * n + j]!)).toBeLessThan(1e-5);
      }
    }
    await session.release();
  });
});

describe('per-column quantization (DynamicQuantizeMatMul)', () => {
  it('stores [K, N] codes within qmax, error within half a step of each column', () => {
    const [n, k] = [5, 24];
    const w = randomMatrix(n * k);
    const q = quantizePerColumn(w, n, k, DQ_SCHEME);
    expect(q.codes.length).toBe(n * k);
    expect(q.scales.length).toBe(n);
    expect(Math.max(...Array.from(q.codes, Math.abs))).toBe(DQ_SCHEME.qmax);
    const back = dequantizePerColumn(q);
    for (let j = 0; j < n; j++)
      for (let i = 0; i < k; i++)
        expect(Math.abs(back[j * k + i]! - w[j * k + i]!)).toBeLessThanOrEqual(q.scales[j]! / 2 + 1e-7);
  });

  it('matches ONNX Runtime DynamicQuantizeMatMul within the activation quantization step', async () => {
    const [m, n, k] = [4, 6, 32];
    const w = randomMatrix(n * k);
    const a = randomMatrix(m * k);
    const q = quantizePerColumn(w, n, k, DQ_SCHEME);
    const dq = dequantizePerColumn(q);
    const g = new GraphBuilder();
    g.input('a', OnnxType.FLOAT, [m, k]);
    const b = g.constTensor(OnnxType.INT8, [k, n], new Uint8Array(q.codes.buffer));
    const s = g.constTensor(OnnxType.FLOAT, [n], new Uint8Array(q.scales.buffer));
    g.nodeN('DynamicQuantizeMatMul', ['a', b, s], {}, ['c'], 'com.microsoft');
    g.output('c', OnnxType.FLOAT, [m, n]);
    const model = g.encode({
      graphName: 't',
      opsets: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
    });
    const session = await InferenceSession.create(model);
    const out = (await session.run({ a: new Tensor('float32', a, [m, k]) })).c!.data as Float32Array;
    // activations become uint8 over [min(a, 0), max(a, 0)]: each is off by at most half a step
    const step = (Math.max(0, ...a) - Math.min(0, ...a)) / 255;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        let bound = 0;
        for (let t = 0; t < k; t++) {
          acc += a[i * k + t]! * dq[j * k + t]!;
          bound += (step / 2) * Math.abs(dq[j * k + t]!);
        }
        expect(Math.abs(acc - out[i * n + j]!)).toBeLessThanOrEqual(bound + 1e-5);
      }
    }
    await session.release();
  });

  it('weight-only int8 (DequantizeLinear + MatMul) computes the float product of the dequantized weights', async () => {
    const [m, n, k] = [4, 6, 32];
    const w = randomMatrix(n * k);
    const a = randomMatrix(m * k).map((x, i) => (i % 7 === 0 ? x * 20 : x)); // outliers, as hidden states have
    const q = quantizePerColumn(w, n, k, WEIGHT_ONLY_INT8_SCHEME);
    expect(Math.max(...Array.from(q.codes, Math.abs))).toBe(127);
    const dq = dequantizePerColumn(q);
    const g = new GraphBuilder();
    g.input('a', OnnxType.FLOAT, [m, k]);
    const b = g.constTensor(OnnxType.INT8, [k, n], new Uint8Array(q.codes.buffer));
    const s = g.constTensor(OnnxType.FLOAT, [n], new Uint8Array(q.scales.buffer));
    g.node('MatMul', ['a', g.node('DequantizeLinear', [b, s], { axis: 1 })], {}, 'c');
    g.output('c', OnnxType.FLOAT, [m, n]);
    const model = g.encode({ graphName: 't', opsets: [{ domain: '', version: 17 }] });
    // the runtime's session options: no QDQ fusion may quantize the activations
    const session = await InferenceSession.create(model, sessionOptions(1));
    const out = (await session.run({ a: new Tensor('float32', a, [m, k]) })).c!.data as Float32Array;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let t = 0; t < k; t++) acc += a[i * k + t]! * dq[j * k + t]!;
        expect(Math.abs(acc - out[i * n + j]!)).toBeLessThan(1e-4);
      }
    await session.release();
  });

  it('int8 and int4 are weight-only (float compute); the -a8 modes quantize activations; block sizes only for block-wise modes', () => {
    expect(linearQuant('none')).toBeUndefined();
    expect(linearQuant('int8')).toEqual({ kernel: 'DequantizeLinear', scheme: { qmax: 127 } });
    expect(() => linearQuant('int8', { blockSize: 32 })).toThrow(/block-wise/);
    expect(linearQuant('int4', { blockSize: 64 })).toEqual({
      kernel: 'MatMulNBits',
      scheme: { bits: 4, blockSize: 64, accuracyLevel: 0 },
    });
    expect(linearQuant('int4-a8')).toEqual({
      kernel: 'MatMulNBits',
      scheme: { bits: 4, blockSize: 32, accuracyLevel: 4 },
    });
    expect(linearQuant('int8-dq')!.kernel).toBe('DynamicQuantizeMatMul');
    expect(() => linearQuant('int4', { blockSize: 48 })).toThrow(/block size 48/);
    expect(() => linearQuant('int8-dq', { blockSize: 32 })).toThrow(/block-wise/);
  });
});

describe('quantized sub-networks', () => {
  let dir: string;
  const config = tinyConfig({ hiddenSize: 64, intermediateSize: 96, headDim: 16 });
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'quant-'));
    writeRandomCheckpoint(join(dir, 'model'), config, 9);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Bound: every int8 logit within 5% of the float logits' largest magnitude (int4, 4 bits with 32-wide blocks: 25%).
  const INT8_LOGIT_BOUND = 0.05;
  const INT4_LOGIT_BOUND = 0.25;

  it('stay close to the float model (stated bound), int8 closer than int4', async () => {
    const spec = { layers: 3, intermediate: [96, 40, 17] };
    const tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
    const diffs: Record<string, number> = {};
    let reference: Float32Array | undefined;
    for (const quant of ['none', 'int8', 'int8-dq', 'int8-a8', 'int4', 'int4-a8']) {
      const s = await openSubnet(join(dir, 'model'), spec, {
        cacheDir: join(dir, 'cache'),
        threads: 1,
        quant,
      });
      expect(s.quant).toBe(quant);
      const [logits] = await s.logits([tokens]);
      await s.close();
      reference ??= logits!;
      let worst = 0;
      for (let i = 0; i < logits!.length; i++) worst = Math.max(worst, Math.abs(logits![i]! - reference[i]!));
      diffs[quant] = worst;
    }
    const spread = Math.max(...Array.from(reference!, Math.abs));
    for (const quant of ['int8', 'int8-dq', 'int8-a8']) {
      expect(diffs[quant]!).toBeGreaterThan(0);
      expect(diffs[quant]! / spread).toBeLessThan(INT8_LOGIT_BOUND);
    }
    for (const quant of ['int4', 'int4-a8']) {
      expect(diffs[quant]! / spread).toBeLessThan(INT4_LOGIT_BOUND);
      expect(diffs[quant]!).toBeGreaterThan(Math.max(diffs.int8!, diffs['int8-dq']!, diffs['int8-a8']!));
    }
    await expect(openSubnet(join(dir, 'model'), spec, { quant: 'int3' })).rejects.toThrow(
      /"int3" is not one of/,
    );
  });

  it('export standalone folders of the expected size that a bare session loads', async () => {
    const ckpt = await openCheckpoint(join(dir, 'model'));
    const spec = { layers: 2, intermediate: [96, 64] };
    const sizes: Record<string, number> = {};
    const tokens = [5, 3, 8];
    for (const quant of ['none', 'int8', 'int8-dq', 'int8-a8', 'int4'] as const) {
      const out = join(dir, `export-${quant}`);
      const info = await exportSubnet(ckpt, spec, out, quant);
      expect(info.measured.parameters).toBe(countParameters(config, spec).total);
      expect(measureExport(out).bytes).toBe(info.measured.bytes);
      // the analytic size (in f32 for the rest, as exported) counts exactly the stored codes and scales
      expect(quantizedModelSize(config, spec, 'f32', quant).bytes).toBe(info.measured.bytes);
      sizes[quant] = info.measured.bytes;
      // a bare session: no options, nothing but the folder
      const bare = await InferenceSession.create(join(out, 'model.onnx'));
      expect(bare.outputNames).toEqual(['target_logprobs', 'logits']);
      const n = tokens.length;
      const bias = new Float32Array(n * n).map((_, i) => (i % n <= Math.floor(i / n) ? 0 : -1e30));
      const res = await bare.run({
        input_ids: new Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, n]),
        position_ids: new Tensor('int64', BigInt64Array.from([0n, 1n, 2n]), [1, n]),
        score_index: new Tensor('int64', BigInt64Array.from([0n, 1n, 2n]), [1, n]),
        target_ids: new Tensor('int64', BigInt64Array.from([3n, 8n, 0n]), [1, n]),
        attention_bias: new Tensor('float32', bias, [1, 1, n, n]),
      });
      expect(res.logits!.dims).toEqual([1, n, config.vocabSize]);
      expect(Array.from(res.target_logprobs!.data as Float32Array).every((x) => x < 0)).toBe(true);
      await bare.release();
    }
    // float embedding, norms and lm_head, plus per linear layer [N, K] its codes and float32 scales
    const shapes = [64, 96].flatMap((width) => [
      [64, 64],
      [32, 64],
      [32, 64],
      [64, 64],
      [width, 64],
      [width, 64],
      [64, width],
    ]) as [number, number][];
    const blockwise = (bits: number, bs: number) =>
      shapes.reduce((t, [n, k]) => t + n * Math.ceil(k / bs) * ((bs * bits) / 8 + 4), 0);
    const perColumn = shapes.reduce((t, [n, k]) => t + n * k + 4 * n, 0);
    const floatLinear = shapes.reduce((t, [n, k]) => t + 4 * n * k, 0);
    const floatOther = 4 * countParameters(config, spec).other;
    expect(sizes.none).toBe(floatOther + floatLinear);
    expect(sizes['int8-dq']).toBe(floatOther + perColumn);
    // int8 (weight-only) stores what int8-dq stores: per-column codes and scales
    expect(sizes.int8).toBe(floatOther + perColumn);
    expect(sizes['int8-a8']).toBe(floatOther + blockwise(8, QUANT_SCHEMES['int8-a8'].blockSize));
    expect(sizes.int4).toBe(floatOther + blockwise(4, QUANT_SCHEMES.int4.blockSize));
    // the expected ratios of the linear layers' bytes: 1/4 (int8) and 1/8 (int4) of float32, plus scales
    const linearRatio = (q: string) => (sizes[q]! - floatOther) / floatLinear;
    expect(linearRatio('int8-dq')).toBeGreaterThan(0.25);
    expect(linearRatio('int8-dq')).toBeLessThan(0.25 + 4 / 64);
    expect(linearRatio('int4')).toBeGreaterThan(0.125);
    expect(linearRatio('int4')).toBeLessThanOrEqual(0.125 + 1 / 32);
    expect(modelSize(config, spec, 'f32', 'int4').bytes).toBeLessThan(
      modelSize(config, spec, 'f32', 'int8').bytes,
    );
  });

  it('export writes the block size it is given', async () => {
    const ckpt = await openCheckpoint(join(dir, 'model'));
    const spec = { layers: 1, intermediate: [96] };
    const a = await exportSubnet(ckpt, spec, join(dir, 'b16'), 'int4', { blockSize: 16 });
    const b = await exportSubnet(ckpt, spec, join(dir, 'b64'), 'int4', { blockSize: 64 });
    expect(a.quantKernel).toBe('nb4b16a0');
    expect(b.quantKernel).toBe('nb4b64a0');
    expect(a.measured.bytes).toBe(quantizedModelSize(config, spec, 'f32', 'int4', { blockSize: 16 }).bytes);
    expect(a.measured.bytes).toBeGreaterThan(b.measured.bytes);
  });
});

describe('analytic quantized size of LLaMA-2-7B', () => {
  it('decoder linears at 1 byte plus per-column scales, the rest at 2 bytes', () => {
    const llama7b = presetConfig('llama2-7b');
    const p = countParameters(llama7b);
    const q = quantizedModelSize(llama7b, undefined, 'f16', 'int8-dq');
    // one float32 scale per output column of q, k, v, o (4096 each), gate, up (11008), down (4096)
    const scales = 32 * 4 * (4 * 4096 + 2 * 11008 + 4096);
    expect(q.scaleBytes).toBe(scales);
    expect(q.bytes).toBe(p.decoderLinear + scales + 2 * p.other);
    expect(q.gib).toBeCloseTo(6.525, 2);
    const int4 = quantizedModelSize(llama7b, undefined, 'f16', 'int4');
    expect(int4.scaleBytes).toBe((4 * p.decoderLinear) / 32);
    expect(int4.bytes).toBe(p.decoderLinear / 2 + int4.scaleBytes + 2 * p.other);
    const sub = quantizedModelSize(
      llama7b,
      { layers: 24, intermediate: Array(24).fill(5504) },
      'f16',
      'int8',
    );
    expect(sub.bytes).toBeLessThan(q.bytes / 1.8);
    expect(quantizedModelSize(llama7b, undefined, 'f16', 'none').bytes).toBe(2 * p.total);
  });
});
