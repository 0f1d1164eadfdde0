import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '../../../src/model/checkpoint';
import { ModelFormatError } from '../../../src/model/config';
import {
  GgmlType,
  GgufValueType,
  dequantize,
  encodeFloat,
  gguf,
  quantizeQ8_0,
  readGguf,
  readGgufTensor,
  readGgufTensorBytes,
  writeGguf,
  writeGgufStreamed,
} from '../../../src/model/gguf';
import { loadTokenizer } from '../../../src/model/tokenizer';
import { exportGguf, importGguf, permuteRotary } from '../../../src/model/gguf-convert';
import { mergesFromScores } from '../../../src/model/gguf-tokenizer';
import { tinyConfig, writeRandomCheckpoint, seededRandom } from '../../fixtures/model/random-checkpoint';
import { tempDir } from '../../helpers/temp-dir';

describe('GGUF container', () => {
  const tmp = tempDir('gguf-');

  it('reads back every metadata type and tensor it writes', () => {
    const file = join(tmp.path, 'kv.gguf');
    const f32 = new Float32Array([1.5, -2, 3.25, 0]);
    writeGguf(
      file,
      [
        ['a.u32', gguf.u32(4000000000)],
        ['a.i32', gguf.i32(-7)],
        ['a.f32', gguf.f32(1e-5)],
        ['a.bool', gguf.bool(true)],
        ['a.str', gguf.str('héllo ▁ 🙂')],
        ['a.arr', gguf.arr(GgufValueType.INT32, [1, -2, 3])],
        ['a.strs', gguf.arr(GgufValueType.STRING, ['x', '', 'y z'])],
        ['a.u8', { type: GgufValueType.UINT8, value: 255 }],
        ['a.u64', { type: GgufValueType.UINT64, value: 2n ** 40n }],
        ['a.f64', { type: GgufValueType.FLOAT64, value: Math.PI }],
      ],
      [
        { name: 't.f32', dims: [2, 2], type: GgmlType.F32, data: new Uint8Array(f32.buffer) },
        { name: 't.q8', dims: [32], type: GgmlType.Q8_0, data: quantizeQ8_0(new Float32Array(32).fill(0.5)) },
      ],
    );
    const g = readGguf(file);
    expect(g.version).toBe(3);
    const v = (k: string) => g.metadata.get(k)!.value;
    expect(v('a.u32')).toBe(4000000000);
    expect(v('a.i32')).toBe(-7);
    expect(v('a.f32')).toBe(1e-5);
    expect(v('a.bool')).toBe(true);
    expect(v('a.str')).toBe('héllo ▁ 🙂');
    expect(v('a.arr')).toEqual([1, -2, 3]);
    expect(v('a.strs')).toEqual(['x', '', 'y z']);
    expect(v('a.u8')).toBe(255);
    expect(v('a.u64')).toBe(2n ** 40n);
    expect(v('a.f64')).toBe(Math.PI);
    expect([...readGgufTensor(g, 't.f32')]).toEqual([1.5, -2, 3.25, 0]);
    expect(g.tensors.get('t.q8')!.offset % 32).toBe(0);
    // d = 0.5/127 is stored as float16: the codes are exact, the scale rounds
    for (const x of readGgufTensor(g, 't.q8')) expect(x).toBeCloseTo(0.5, 3);
  });

  it('Q8_0 keeps each value within half a quantization step', () => {
    const rand = seededRandom(3);
    const x = Float32Array.from({ length: 256 }, () => (rand() - 0.5) * 4);
    const y = dequantize(quantizeQ8_0(x), GgmlType.Q8_0, x.length);
    for (let b = 0; b < 8; b++) {
      const block = x.subarray(b * 32, b * 32 + 32);
      const amax = Math.max(...block.map(Math.abs));
      // half a step of rounding, plus the float16 rounding of the scale (2^-11 relative) times 127
      for (let j = 0; j < 32; j++)
        expect(Math.abs(y[b * 32 + j]! - block[j]!)).toBeLessThanOrEqual(
          (amax / 127) * 0.5 + amax * 2 ** -11,
        );
    }
  });

  it('Q4_1 and Q4_0 blocks decode as d*q+m and d*(q-8), low nibbles first', () => {
    const q41 = new Uint8Array(20);
    const v = new DataView(q41.buffer);
    v.setUint16(0, 0x3c00, true); // d = 1
    v.setUint16(2, 0xbc00, true); // m = -1
    for (let j = 0; j < 16; j++) q41[4 + j] = j | ((15 - j) << 4);
    const y = dequantize(q41, GgmlType.Q4_1, 32);
    expect([...y.subarray(0, 16)]).toEqual(Array.from({ length: 16 }, (_, j) => j - 1));
    expect([...y.subarray(16)]).toEqual(Array.from({ length: 16 }, (_, j) => 14 - j));
    const q40 = new Uint8Array(18);
    new DataView(q40.buffer).setUint16(0, 0x4000, true); // d = 2
    q40.fill(0x8f, 2);
    const z = dequantize(q40, GgmlType.Q4_0, 32);
    expect([...z.subarray(0, 16)]).toEqual(new Array(16).fill(14));
    expect([...z.subarray(16)]).toEqual(new Array(16).fill(0));
  });

  it('streams tensors one at a time into the same bytes as the in-memory writer; a wrong length leaves no file', async () => {
    const rnd = seededRandom(3);
    const tensors = [
      { name: 'a', dims: [5, 3], type: GgmlType.F32 },
      { name: 'b', dims: [64, 2], type: GgmlType.Q8_0 },
      { name: 'c', dims: [7], type: GgmlType.F16 },
    ].map((t) => {
      const values = Float32Array.from({ length: t.dims.reduce((x, y) => x * y, 1) }, () => rnd() - 0.5);
      const data =
        t.type === GgmlType.Q8_0
          ? quantizeQ8_0(values)
          : encodeFloat(values, t.type as GgmlType.F32 | GgmlType.F16);
      return { ...t, data };
    });
    const meta: [string, ReturnType<typeof gguf.str>][] = [['general.name', gguf.str('streamed')]];
    writeGguf(join(tmp.path, 'whole.gguf'), meta, tensors);
    let live = 0;
    let most = 0;
    const order: string[] = [];
    await writeGgufStreamed(
      join(tmp.path, 'streamed.gguf'),
      meta,
      tensors.map(({ data, ...t }) => ({
        ...t,
        encode: async () => {
          most = Math.max(most, ++live);
          order.push(t.name);
          await new Promise((r) => setImmediate(r));
          live--;
          return data;
        },
      })),
    );
    expect(order).toEqual(['a', 'b', 'c']);
    expect(most).toBe(1);
    expect(
      readFileSync(join(tmp.path, 'streamed.gguf')).equals(readFileSync(join(tmp.path, 'whole.gguf'))),
    ).toBe(true);
    const wrong = join(tmp.path, 'wrong.gguf');
    await expect(
      writeGgufStreamed(wrong, meta, [
        { name: 'x', dims: [4], type: GgmlType.F32, encode: () => new Uint8Array(12) },
      ]),
    ).rejects.toThrow(/tensor x: 12 bytes, F32 \[4\] needs 16/);
    expect(existsSync(wrong)).toBe(false);
  });

  it('refuses files that are not GGUF, other versions and unknown tensor types, naming them', () => {
    const bad = join(tmp.path, 'bad.gguf');
    writeFileSync(bad, Buffer.alloc(64));
    expect(() => readGguf(bad)).toThrow(/not a GGUF file/);
    const file = join(tmp.path, 'q5.gguf');
    writeGguf(file, [], [{ name: 'x', dims: [4], type: GgmlType.F32, data: new Uint8Array(16) }]);
    const bytes = readFileSync(file);
    const v1 = Buffer.from(bytes);
    v1.writeUInt32LE(1, 4);
    writeFileSync(bad, v1);
    expect(() => readGguf(bad)).toThrow(/GGUF version 1 is not supported/);
    // patch the tensor type (the u32 after the dims) to Q5_K (13)
    const at = bytes.indexOf(Buffer.from('x')) + 1 + 4 + 8;
    const q5 = Buffer.from(bytes);
    q5.writeUInt32LE(13, at);
    writeFileSync(bad, q5);
    expect(() => readGguf(bad)).toThrow(/tensor x has type ggml type 13, not one of F32, F16, Q4_0/);
  });
});

describe('GGUF conversion', () => {
  const config = tinyConfig({
    hiddenSize: 64,
    intermediateSize: 96,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    vocabSize: 64,
  });
  const tmp = tempDir('gguf-conv-', (dir) =>
    writeRandomCheckpoint(join(dir, 'base'), config, 11, { tokenizer: true }),
  );

  it('permuteRotary interleaves the rotary halves of each head and undoes it', () => {
    const w = Float32Array.from({ length: 2 * 8 * 3 }, (_, i) => i);
    const p = permuteRotary(w, 2, 8, 3, true);
    // head 0: HF rows 0..3 (first half), 4..7 (second half) -> GGUF rows 0,2,4,6 and 1,3,5,7
    expect([...p.subarray(0, 3)]).toEqual([0, 1, 2]);
    expect([...p.subarray(3, 6)]).toEqual([12, 13, 14]);
    expect([...p.subarray(6, 9)]).toEqual([3, 4, 5]);
    expect([...permuteRotary(p, 2, 8, 3, false)]).toEqual([...w]);
  });

  it.each([
    ['one width: llama', { layers: 3, intermediate: [64, 64, 64] }, 'llama'],
    ['per-layer widths: deci', { layers: 2, intermediate: [96, 32] }, 'deci'],
  ])('import(export(sub-network)) gives the sub-network back (%s)', async (_name, spec, arch) => {
    const base = await openCheckpoint(join(tmp.path, 'base'));
    const file = join(tmp.path, `${arch}.gguf`);
    const info = await exportGguf(base, spec, file, 'F16');
    expect(info.architecture).toBe(arch);
    const g = readGguf(file);
    expect(g.metadata.get('general.architecture')!.value).toBe(arch);
    expect(g.metadata.get(`${arch}.block_count`)!.value).toBe(spec.layers);
    expect(g.metadata.get(`${arch}.feed_forward_length`)!.value).toEqual(arch === 'llama' ? 64 : [96, 32]);
    const out = join(tmp.path, `${arch}-imported`);
    const r = importGguf(file, out);
    expect(r.architecture).toBe(arch);
    expect(r.widths).toEqual(spec.intermediate);
    const back = await openCheckpoint(out);
    expect(back.config.numLayers).toBe(spec.layers);
    expect(back.config.intermediateSize).toBe(Math.max(...spec.intermediate));
    expect(existsSync(join(out, 'subnet.json'))).toBe(arch === 'deci');
    const close = (a: Float32Array, b: Float32Array): void => {
      expect(a.length).toBe(b.length);
      let worst = 0;
      for (let i = 0; i < a.length; i++)
        worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
      expect(worst).toBeLessThan(1e-3); // float16 rounding
    };
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight', 'model.norm.weight'])
      close(await back.read(name), await base.read(name));
    const h = config.hiddenSize;
    for (let l = 0; l < spec.layers; l++) {
      const p = `model.layers.${l}`;
      for (const n of [
        'self_attn.q_proj',
        'self_attn.k_proj',
        'self_attn.v_proj',
        'self_attn.o_proj',
        'input_layernorm',
        'post_attention_layernorm',
      ])
        close(await back.read(`${p}.${n}.weight`), await base.read(`${p}.${n}.weight`));
      const k = spec.intermediate[l]!;
      const wide = back.config.intermediateSize;
      const gate = await back.read(`${p}.mlp.gate_proj.weight`);
      close(gate.subarray(0, k * h), (await base.read(`${p}.mlp.gate_proj.weight`)).subarray(0, k * h));
      expect(gate.subarray(k * h).every((x) => x === 0)).toBe(true);
      const down = await back.read(`${p}.mlp.down_proj.weight`);
      const baseDown = await base.read(`${p}.mlp.down_proj.weight`);
      for (let r = 0; r < h; r++) {
        close(
          down.subarray(r * wide, r * wide + k),
          baseDown.subarray(r * config.intermediateSize, r * config.intermediateSize + k),
        );
        expect(down.subarray(r * wide + k, (r + 1) * wide).every((x) => x === 0)).toBe(true);
      }
    }
  });

  it('Q8_0 export stores matrices in Q8_0 and falls back to F16 where rows do not fit a block', async () => {
    const base = await openCheckpoint(join(tmp.path, 'base'));
    const info = await exportGguf(base, { layers: 1, intermediate: [40] }, join(tmp.path, 'q8.gguf'), 'Q8_0');
    const g = readGguf(join(tmp.path, 'q8.gguf'));
    expect(g.tensors.get('blk.0.attn_q.weight')!.type).toBe(GgmlType.Q8_0);
    expect(g.tensors.get('blk.0.ffn_gate.weight')!.type).toBe(GgmlType.Q8_0);
    expect(g.tensors.get('blk.0.ffn_down.weight')!.type).toBe(GgmlType.F16);
    expect(g.tensors.get('blk.0.attn_norm.weight')!.type).toBe(GgmlType.F32);
    expect(info.f16Fallback).toEqual(['blk.0.ffn_down.weight']);
  });

  it('refuses other architectures and unknown tensors, naming the key or tensor', async () => {
    const file = join(tmp.path, 'gpt.gguf');
    writeGguf(file, [['general.architecture', gguf.str('gpt2')]], []);
    expect(() => importGguf(file, join(tmp.path, 'x'))).toThrow(ModelFormatError);
    expect(() => importGguf(file, join(tmp.path, 'x'))).toThrow(/general.architecture is "gpt2"/);
    const base = await openCheckpoint(join(tmp.path, 'base'));
    await exportGguf(base, { layers: 1, intermediate: [32] }, join(tmp.path, 'one.gguf'), 'F16');
    const g = readGguf(join(tmp.path, 'one.gguf'));
    const meta = [...g.metadata.entries()].map(([k, v]) => [k, v] as [string, typeof v]);
    const tensors = [...g.tensors.values()].map((t) => ({
      name: t.name,
      dims: t.dims,
      type: t.type,
      data: new Uint8Array(t.byteLength),
    }));
    tensors.push({ name: 'rope_freqs.weight', dims: [8], type: GgmlType.F32, data: new Uint8Array(32) });
    writeGguf(join(tmp.path, 'extra.gguf'), meta, tensors);
    expect(() => importGguf(join(tmp.path, 'extra.gguf'), join(tmp.path, 'y'))).toThrow(
      /tensor rope_freqs.weight is not part of a llama model/,
    );
  });

  it('derives SentencePiece merges from the scores of the merged pieces', () => {
    const tokens = ['<unk>', '▁', 'a', 'b', 'ab', '▁a', '▁ab'];
    const scores = [0, -1, -2, -3, -4, -5, -6];
    const types = [2, 1, 1, 1, 1, 1, 1];
    expect(mergesFromScores(tokens, scores, types)).toEqual([
      ['a', 'b'],
      ['▁', 'a'],
      ['▁', 'ab'],
      ['▁a', 'b'],
    ]);
  });
});

describe('tokenizer rebuilt from a SentencePiece (llama) vocabulary', () => {
  it('encodes with "▁" for spaces, the highest-scoring merges first and byte fallback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gguf-spm-'));
    try {
      const bytes = Array.from(
        { length: 256 },
        (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
      );
      const pieces = [
        '▁',
        'h',
        'e',
        'l',
        'o',
        'w',
        'r',
        'd',
        'he',
        'll',
        'hell',
        'hello',
        '▁hello',
        '▁w',
        'or',
        '▁wor',
        'ld',
        '▁world',
      ];
      const tokens = ['<unk>', '<s>', '</s>', ...bytes, ...pieces];
      const types = [2, 3, 3, ...bytes.map(() => 6), ...pieces.map(() => 1)];
      const scores = tokens.map((_, i) => -i);
      const file = join(dir, 'spm.gguf');
      const base = await (async () => {
        const d = join(dir, 'base');
        writeRandomCheckpoint(d, tinyConfig({ vocabSize: tokens.length }), 1);
        return openCheckpoint(d);
      })();
      await exportGguf(base, { layers: 1, intermediate: [48] }, file, 'F32');
      const g = readGguf(file);
      const meta = [...g.metadata.entries()].filter(([k]) => !k.startsWith('tokenizer.'));
      meta.push(
        ['tokenizer.ggml.model', gguf.str('llama')],
        ['tokenizer.ggml.tokens', gguf.arr(GgufValueType.STRING, tokens)],
        ['tokenizer.ggml.scores', gguf.arr(GgufValueType.FLOAT32, scores)],
        ['tokenizer.ggml.token_type', gguf.arr(GgufValueType.INT32, types)],
        ['tokenizer.ggml.bos_token_id', gguf.u32(1)],
        ['tokenizer.ggml.eos_token_id', gguf.u32(2)],
        ['tokenizer.ggml.unknown_token_id', gguf.u32(0)],
      );
      const tensors = [...g.tensors.values()].map((t) => ({
        name: t.name,
        dims: t.dims,
        type: t.type,
        data: readGgufTensorBytes(g, t),
      }));
      writeGguf(join(dir, 'spm2.gguf'), meta, tensors);
      importGguf(join(dir, 'spm2.gguf'), join(dir, 'out'));
      const tok = await loadTokenizer(join(dir, 'out'));
      const id = (p: string) => tokens.indexOf(p);
      expect(tok.encode('hello world')).toEqual([id('▁hello'), id('▁world')]);
      // "x" is not a piece: its UTF-8 byte
      expect(tok.encode('hello x')).toEqual([id('▁hello'), id('▁'), id('<0x78>')]);
      expect(tok.decode(tok.encode('hello world'))).toBe('hello world');
      expect([tok.bosId, tok.eosId]).toEqual([1, 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
