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
import { type QuantScheme, QUANT_SCHEMES, dequantize, quantizeBlockwise } from '../../../src/model/quantize';
import { seededRandom } from '../../../src/model/random';
import { openSubnet } from '../../../src/model/runtime';
import { countParameters, modelSize } from '../../../src/model/size';
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

describe('quantized sub-networks', () => {
  let dir: string;
  const config = tinyConfig({ hiddenSize: 64, intermediateSize: 96, headDim: 16 });
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'quant-'));
    writeRandomCheckpoint(join(dir, 'model'), config, 9);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stay close to the float model, int8 closer than int4', async () => {
    const spec = { layers: 3, intermediate: [96, 40, 17] };
    const tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
    const diffs: Record<string, number> = {};
    let reference: Float32Array | undefined;
    for (const quant of ['none', 'int8', 'int4']) {
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
    expect(diffs.int8!).toBeGreaterThan(0);
    expect(diffs.int8!).toBeLessThan(0.1 * spread);
    expect(diffs.int4!).toBeGreaterThan(diffs.int8!);
    await expect(openSubnet(join(dir, 'model'), spec, { quant: 'int3' })).rejects.toThrow(
      /"int3" is not one of/,
    );
  });

  it('export smaller folders whose measured parameters match the analytic count', async () => {
    const ckpt = await openCheckpoint(join(dir, 'model'));
    const spec = { layers: 2, intermediate: [96, 64] };
    const sizes: Record<string, number> = {};
    for (const quant of ['none', 'int8', 'int4'] as const) {
      const out = join(dir, `export-${quant}`);
      const info = await exportSubnet(ckpt, spec, out, quant);
      expect(info.measured.parameters).toBe(countParameters(config, spec).total);
      expect(measureExport(out).bytes).toBe(info.measured.bytes);
      sizes[quant] = info.measured.bytes;
      const bare = await InferenceSession.create(join(out, 'model.onnx'));
      expect(bare.outputNames).toEqual(['target_logprobs', 'logits']);
      await bare.release();
    }
    // float embedding, norms and lm_head, plus per linear layer [N, K]: packed codes and one float scale per block
    const linearBytes = (bits: number, bs: number) =>
      [64, 96].reduce((sum, width) => {
        const shapes = [
          [64, 64],
          [32, 64],
          [32, 64],
          [64, 64],
          [width, 64],
          [width, 64],
          [64, width],
        ];
        return sum + shapes.reduce((t, [n, k]) => t + n! * Math.ceil(k! / bs) * ((bs * bits) / 8 + 4), 0);
      }, 0);
    const floatOther = 4 * countParameters(config, spec).other;
    expect(sizes.int8).toBe(floatOther + linearBytes(8, QUANT_SCHEMES.int8.blockSize));
    expect(sizes.int4).toBe(floatOther + linearBytes(4, QUANT_SCHEMES.int4.blockSize));
    expect(sizes.int4).toBeLessThan(sizes.int8!);
    expect(sizes.int8).toBeLessThan(sizes.none!);
    expect(modelSize(config, spec, 'f32', 'int4').bytes).toBeLessThan(
      modelSize(config, spec, 'f32', 'int8').bytes,
    );
  });
});
