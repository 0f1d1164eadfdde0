import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  INDEX_FILE,
  SINGLE_FILE,
  openCheckpoint,
  readAllWeights,
  writeCheckpoint,
} from '../../../src/model/checkpoint';
import { parseLlamaConfig } from '../../../src/model/config';
import {
  decodeToFloat32,
  encodeFromFloat32,
  floatToHalf,
  halfToFloat,
  readSafetensorsHeader,
  writeSafetensors,
} from '../../../src/model/safetensors';
import { tinyConfig, writeRandomCheckpoint } from '../../fixtures/model/random-checkpoint';

describe('config.json', () => {
  const base = {
    vocab_size: 100,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 8,
  };
  it('fills Hugging Face defaults and derives head_dim', () => {
    const c = parseLlamaConfig(base);
    expect(c).toMatchObject({
      numKvHeads: 8,
      headDim: 8,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      tieWordEmbeddings: false,
    });
  });
  it('rejects fields whose math is not implemented and inconsistent heads', () => {
    expect(() =>
      parseLlamaConfig({ ...base, rope_scaling: { type: 'linear', factor: 2 } }, 'x/config.json'),
    ).toThrow(/x\/config\.json: field rope_scaling/);
    expect(() => parseLlamaConfig({ ...base, hidden_act: 'gelu' })).toThrow(/hidden_act/);
    expect(() => parseLlamaConfig({ ...base, num_key_value_heads: 3 })).toThrow(
      /not a multiple of num_key_value_heads/,
    );
    expect(() => parseLlamaConfig({ ...base, hidden_size: 'big' })).toThrow(/hidden_size/);
  });
});

describe('safetensors', () => {
  it('converts float16 and bfloat16 with round-to-nearest-even', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(2 ** -24)).toBe(1); // smallest subnormal
    expect(halfToFloat(0x03ff)).toBe(1023 * 2 ** -24);
    expect(floatToHalf(1023 * 2 ** -24)).toBe(0x03ff);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    const values = new Float32Array([0.1, -3.25, 1024.5, 1e-3]);
    const bf = decodeToFloat32(encodeFromFloat32(values, 'BF16'), 'BF16');
    values.forEach((v, i) => expect(Math.abs(bf[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8));
    const h = decodeToFloat32(encodeFromFloat32(values, 'F16'), 'F16');
    values.forEach((v, i) => expect(Math.abs(h[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11));
  });

  it('writes a file whose header and data read back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    try {
      const file = join(dir, 'a.safetensors');
      writeSafetensors(file, [
        { name: 'x', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
        { name: 'y', dtype: 'F16', shape: [1], data: new Float32Array([0.5]) },
      ]);
      const header = await readSafetensorsHeader(file);
      const buf = readFileSync(file);
      expect(Number(buf.readBigUInt64LE(0)) % 8).toBe(0);
      const x = header.entries.get('x')!;
      expect(x.shape).toEqual([2, 3]);
      expect(new Float32Array(buf.buffer.slice(buf.byteOffset + x.begin, buf.byteOffset + x.end))).toEqual(
        new Float32Array([1, 2, 3, 4, 5, 6]),
      );
      writeFileSync(file, buf.subarray(0, buf.length - 1));
      await expect(readSafetensorsHeader(file)).rejects.toThrow(/tensor y: data runs past the end/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checkpoint folders', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['F32', undefined],
    ['BF16', 4000],
    ['F16', 4000],
  ] as const)('round-trips %s weights (shard limit %s)', async (dtype, maxShardBytes) => {
    const config = tinyConfig();
    const weights = writeRandomCheckpoint(dir, config, 7, {
      dtype,
      ...(maxShardBytes ? { maxShardBytes } : {}),
    });
    const ckpt = await openCheckpoint(dir);
    expect(ckpt.config).toMatchObject({ hiddenSize: 32, numKvHeads: 2, tieWordEmbeddings: false });
    const read = await readAllWeights(ckpt);
    const tol = dtype === 'F32' ? 0 : dtype === 'F16' ? 2e-3 : 1.6e-2;
    for (const [name, data] of weights) {
      const back = read.get(name)!;
      let worst = 0;
      for (let i = 0; i < data.length; i++) worst = Math.max(worst, Math.abs(back[i]! - data[i]!));
      expect(worst).toBeLessThanOrEqual(tol);
    }
    if (maxShardBytes) {
      const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8'));
      expect(new Set(Object.values(index.weight_map)).size).toBeGreaterThan(1);
    }
  });

  it('accepts tied embeddings without lm_head', async () => {
    writeRandomCheckpoint(dir, tinyConfig({ tieWordEmbeddings: true }), 1);
    const ckpt = await openCheckpoint(dir);
    expect(ckpt.tensors.has('lm_head.weight')).toBe(false);
  });

  it('rejects a folder without weights or config', async () => {
    writeRandomCheckpoint(dir, tinyConfig(), 1);
    rmSync(join(dir, SINGLE_FILE));
    await expect(openCheckpoint(dir)).rejects.toThrow(
      /no model\.safetensors and no model\.safetensors\.index\.json/,
    );
    rmSync(join(dir, 'config.json'));
    await expect(openCheckpoint(dir)).rejects.toThrow(/config\.json: missing/);
  });

  it('names the file and tensor when a config contradicts the weights', async () => {
    writeRandomCheckpoint(dir, tinyConfig(), 1);
    const cfgFile = join(dir, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, intermediate_size: 40 }));
    await expect(openCheckpoint(dir)).rejects.toThrow(
      /model\.safetensors: tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[48,32\], but .*config\.json implies \[40,32\]/,
    );
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, num_hidden_layers: 2 }));
    await expect(openCheckpoint(dir)).rejects.toThrow(
      /model\.safetensors: tensor model\.layers\.2\.\S+ is not part of the model/,
    );
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, num_hidden_layers: 4 }));
    await expect(openCheckpoint(dir)).rejects.toThrow(
      /tensor model\.layers\.3\.input_layernorm\.weight is missing/,
    );
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, tie_word_embeddings: true, vocab_size: 65 }));
    await expect(openCheckpoint(dir)).rejects.toThrow(
      /tensor model\.embed_tokens\.weight has shape \[64,32\]/,
    );
  });

  it('rejects a tensor of an unsupported dtype, naming file and tensor', async () => {
    const config = tinyConfig({ numLayers: 1 });
    writeRandomCheckpoint(dir, config, 1);
    const file = join(dir, SINGLE_FILE);
    const buf = readFileSync(file);
    const len = Number(buf.readBigUInt64LE(0));
    const header = buf
      .subarray(8, 8 + len)
      .toString('utf8')
      .replace('"model.norm.weight":{"dtype":"F32"', '"model.norm.weight":{"dtype":"I32"');
    writeFileSync(file, Buffer.concat([buf.subarray(0, 8), Buffer.from(header), buf.subarray(8 + len)]));
    await expect(openCheckpoint(dir)).rejects.toThrow(
      /model\.safetensors: tensor model\.norm\.weight: dtype I32 is not one of/,
    );
  });

  it('changes identity when the weights are rewritten', async () => {
    writeRandomCheckpoint(dir, tinyConfig(), 1);
    const a = (await openCheckpoint(dir)).identity;
    expect((await openCheckpoint(dir)).identity).toBe(a);
    writeCheckpoint(dir, tinyConfig({ rmsNormEps: 1e-6 }), await readAllWeights(await openCheckpoint(dir)));
    expect((await openCheckpoint(dir)).identity).not.toBe(a);
  });
});
