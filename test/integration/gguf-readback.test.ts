/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { openCheckpoint } from '../../src/model/checkpoint';
import { GGML_BLOCK, GgmlType, readGguf, readGgufTensor, writeGguf } from '../../src/model/gguf';
import { exportGguf, importGguf } from '../../src/model/gguf-convert';
import { openSubnet } from '../../src/model/runtime';
import { loadTokenizer } from '../../src/model/tokenizer';
import type { SubnetSpec } from '../../src/model/types';
import { projectRoot, requireTorchPython } from '../../src/toolchain';
import { seededRandom } from '../fixtures/model/random-checkpoint';
import { describeRealModel, ggufPythonPath, realModel, type RealModel } from '../helpers/real-model';
import { tempDir } from '../helpers/temp-dir';

/**
 * GGUF files checked with llama.cpp's own Python package `gguf` (installed by provisioning into
 * <state>/pylib): its dequantization of every tensor type against ours, the exported
 * sub-networks' keys and tensors as llama.cpp expects them, import(export(sub-network)) against
 * the sub-network, and the rebuilt tokenizer against the GGUF's vocabulary and merges.
 */
jest.setTimeout(900_000);
const READBACK = join(projectRoot, 'test', 'fixtures', 'model', 'gguf_readback.py');

interface TensorView {
  type: string;
  dims: number[];
  sum: number;
  sumsq: number;
  head: number[];
  mid: number;
}
interface FileView {
  metadata: Record<string, { types: string[]; value?: unknown; length?: number; head?: unknown[] }>;
  tensors: Record<string, TensorView>;
  allowed: string[];
}

const pylib = ggufPythonPath();
const describeWithGguf = pylib ? describe : describe.skip;
if (!pylib)
  console.warn(
    'SKIPPED: the gguf Python package is not installed (scripts/provision.sh installs it into <state>/pylib)',
  );

function readBack(files: string[]): Record<string, FileView> {
  return JSON.parse(
    execFileSync(requireTorchPython(), [READBACK, ...files], {
      env: { ...process.env, PYTHONPATH: pylib },
      encoding: 'utf8',
      maxBuffer: 512 * 1024 * 1024,
    }),
  ) as Record<string, FileView>;
}

function checksums(x: Float32Array): Omit<TensorView, 'type' | 'dims'> {
  let sum = 0;
  let sumsq = 0;
  for (const v of x) {
    sum += v;
    sumsq += v * v;
  }
  return { sum, sumsq, head: [...x.subarray(0, 8)], mid: x[Math.floor(x.length / 2)]! };
}

function expectSameValues(ours: Float32Array, theirs: TensorView, what: string): void {
  const c = checksums(ours);
  const scale = Math.max(1, Math.sqrt(theirs.sumsq));
  expect({ what, sum: Math.abs(c.sum - theirs.sum) / scale < 1e-6 }).toEqual({ what, sum: true });
  expect(Math.abs(c.sumsq - theirs.sumsq) / Math.max(1, theirs.sumsq)).toBeLessThan(1e-6);
  c.head.forEach((v, i) => expect(v).toBeCloseTo(theirs.head[i]!, 6));
  expect(c.mid).toBeCloseTo(theirs.mid, 6);
}

/** GPT-2's byte-to-character table: printable bytes stand for themselves, the rest map above 255. */
function byteToChar(): string[] {
  const table: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table.push(String.fromCodePoint(printable ? b : 256 + extra++));
  }
  return table;
}

/**
 * A byte-level BPE written from the GGUF's own data, as llama.cpp tokenizes with the `smollm`
 * pre-tokenizer: control tokens are matched in the text first; the rest is split at every digit,
 * then by GPT-2's regex; each piece's UTF-8 bytes map to characters and merge by merge rank.
 */
function referenceBpe(v: {
  tokens: string[];
  token_type: number[];
  merges: string[];
}): (text: string) => number[] {
  const ids = new Map(v.tokens.map((t, i) => [t, i]));
  const ranks = new Map(v.merges.map((m, i) => [m, i]));
  const special = v.tokens.filter((_, i) => v.token_type[i] === 3).sort((a, b) => b.length - a.length);
  const chars = byteToChar();
  const gpt2 = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  const bpe = (piece: string): number[] => {
    let parts = [...Buffer.from(piece, 'utf8')].map((b) => chars[b]!);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
    }
    return parts.map((p) => {
      const id = ids.get(p);
      if (id === undefined) throw new Error(`reference BPE: ${p} is not in the vocabulary`);
      return id;
    });
  };
  const plain = (text: string): number[] =>
    text
      .split(/(\p{N})/u)
      .filter((s) => s.length > 0)
      .flatMap((s) => (/^\p{N}$/u.test(s) ? [s] : (s.match(gpt2) ?? [])))
      .flatMap(bpe);
  return (text) => {
    const out: number[] = [];
    let rest = text;
    while (rest.length) {
      let at = rest.length;
      let which = '';
      for (const s of special) {
        const i = rest.indexOf(s);
        if (i >= 0 && i < at) [at, which] = [i, s];
      }
      out.push(...plain(rest.slice(0, at)));
      if (!which) break;
      out.push(ids.get(which)!);
      rest = rest.slice(at + which.length);
    }
    return out;
  };
}

describeWithGguf('GGUF read back by llama.cpp’s gguf package', () => {
  const tmp = tempDir('gguf-readback-');

  it('dequantizes F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K as gguf.quants does', () => {
    const rand = seededRandom(5);
    const types = [
      GgmlType.F16,
      GgmlType.BF16,
      GgmlType.Q8_0,
      GgmlType.Q4_0,
      GgmlType.Q4_1,
      GgmlType.Q4_K,
      GgmlType.Q6_K,
    ];
    const tensors = types.map((type) => {
      const { elements, bytes } = GGML_BLOCK[type];
      const blocks = 1024 / elements;
      const data = Uint8Array.from({ length: blocks * bytes }, () => Math.floor(rand() * 256));
      const v = new DataView(data.buffer);
      // keep the float16/bfloat16 scales finite and small: 0x2c00..0x2fff (~0.06..0.12); bfloat16 values ~1
      const halfAt: Record<number, number[]> = {
        [GgmlType.Q8_0]: [0],
        [GgmlType.Q4_0]: [0],
        [GgmlType.Q4_1]: [0, 2],
        [GgmlType.Q4_K]: [0, 2],
        [GgmlType.Q6_K]: [208],
      };
      for (let b = 0; b < blocks; b++)
        for (const at of halfAt[type] ?? [])
          v.setUint16(b * bytes + at, 0x2c00 | (v.getUint16(b * bytes + at, true) & 0x3ff), true);
      if (type === GgmlType.F16)
        for (let i = 0; i < 1024; i++) v.setUint16(i * 2, 0x3800 | (v.getUint16(i * 2, true) & 0x83ff), true);
      if (type === GgmlType.BF16)
        for (let i = 0; i < 1024; i++) v.setUint16(i * 2, 0x3f00 | (v.getUint16(i * 2, true) & 0x807f), true);
      return { name: `t.${GgmlType[type]}`, dims: [256, 4], type, data };
    });
    const f32 = Float32Array.from({ length: 256 }, () => rand() - 0.5);
    tensors.push({ name: 't.F32', dims: [256], type: GgmlType.F32, data: new Uint8Array(f32.buffer) });
    const file = join(tmp.path, 'types.gguf');
    writeGguf(file, [], tensors);
    const theirs = readBack([file])[file]!;
    const g = readGguf(file);
    for (const t of tensors) {
      expect(theirs.tensors[t.name]!.type).toBe(GgmlType[t.type]);
      expectSameValues(readGgufTensor(g, t.name), theirs.tensors[t.name]!, t.name);
    }
  });

  describeRealModel('SmolLM2-135M', () => {
    let model: RealModel;
    beforeAll(async () => {
      model = await realModel();
    });

    it('the original GGUF: our dequantized tensors equal gguf.quants’ (Q8_0 embeddings, Q4_1 matrices)', () => {
      const theirs = readBack([model.gguf])[model.gguf]!;
      const g = readGguf(model.gguf);
      expect(Object.keys(theirs.tensors).sort()).toEqual([...g.tensors.keys()].sort());
      for (const name of [
        'token_embd.weight',
        'blk.0.attn_q.weight',
        'blk.29.ffn_down.weight',
        'output_norm.weight',
      ]) {
        expect(theirs.tensors[name]!.type).toBe(GgmlType[g.tensors.get(name)!.type]);
        expectSameValues(readGgufTensor(g, name), theirs.tensors[name]!, name);
      }
    });

    it('the rebuilt tokenizer encodes as the GGUF’s vocabulary and merges say (an independent byte-level BPE)', async () => {
      const vocab = JSON.parse(
        execFileSync(requireTorchPython(), [READBACK, '--vocab', model.gguf], {
          env: { ...process.env, PYTHONPATH: pylib },
          encoding: 'utf8',
          maxBuffer: 256 * 1024 * 1024,
        }),
      ) as { model: string; pre: string; tokens: string[]; token_type: number[]; merges: string[] };
      expect(vocab.model).toBe('gpt2');
      expect(vocab.pre).toBe('smollm');
      const reference = referenceBpe(vocab);
      const tokenizer = await loadTokenizer(model.dir);
      const texts = [
        'Hello world',
        ' leading space and  two  spaces, trailing space ',
        'line one\nline two\n\n\tindented\r\nwindows',
        'Digits 1234567890 and 3.14159, 1,000,000 and 2024-12-02',
        "it's we'll they're I'd don't CAN'T",
        'Unicode: café naïve Ærø 東京 Москва 🙂🚀 — “quotes” …',
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|endoftext|>',
        'code: def f(x):\n    return x**2  # square\n',
        'Question: Which gas do plants take in?\nAnswer: carbon dioxide',
        '   \n\n   ',
      ];
      let tokens = 0;
      for (const text of texts) {
        const ids = tokenizer.encode(text);
        tokens += ids.length;
        expect({ text, ids }).toEqual({ text, ids: reference(text) });
        // decode is the inverse, and encoding is stable under decode
        expect(tokenizer.decode(ids).replace(/<\|[a-z_]+\|>/g, '')).toBe(text.replace(/<\|[a-z_]+\|>/g, ''));
        expect(tokenizer.encode(tokenizer.decode(ids))).toEqual(
          tokenizer.encode(text.replace(/<\|[a-z_]+\|>/g, '')),
        );
      }
      expect(tokenizer.encode('<|im_start|>')).toEqual([1]);
      expect(tokenizer.bosId).toBe(1);
      expect(tokenizer.eosId).toBe(2);
      console.log(`tokenizer: ${texts.length} texts, ${tokens} tokens, identical to the reference BPE`);
    });

    it('exported sub-networks have every key and tensor llama.cpp expects, and import(export) gives the sub-network’s logits', async () => {
      const base = await openCheckpoint(model.dir);
      const uniform: SubnetSpec = { layers: 4, intermediate: new Array<number>(4).fill(768) };
      const perLayer: SubnetSpec = { layers: 5, intermediate: [1536, 768, 1024, 256, 1536] };
      const files = {
        llama: join(tmp.path, 'uniform-q8.gguf'),
        deci: join(tmp.path, 'per-layer-f32.gguf'),
      };
      expect((await exportGguf(base, uniform, files.llama, 'Q8_0')).architecture).toBe('llama');
      expect((await exportGguf(base, perLayer, files.deci, 'F32')).architecture).toBe('deci');
      const views = readBack([files.llama, files.deci]);
      for (const [arch, spec, file, matrixType] of [
        ['llama', uniform, files.llama, 'Q8_0'],
        ['deci', perLayer, files.deci, 'F32'],
      ] as const) {
        const { metadata: m, tensors: t, allowed } = views[file]!;
        expect(m['general.architecture']!.value).toBe(arch);
        expect(m['GGUF.version']!.value).toBe(3);
        const scalar = (k: string, type: string, value: unknown): void => {
          expect({ k, types: m[k]?.types, value: m[k]?.value }).toEqual({ k, types: [type], value });
        };
        scalar(`${arch}.block_count`, 'UINT32', spec.layers);
        scalar(`${arch}.embedding_length`, 'UINT32', 576);
        scalar(`${arch}.context_length`, 'UINT32', 8192);
        scalar(`${arch}.vocab_size`, 'UINT32', 49152);
        scalar(`${arch}.rope.dimension_count`, 'UINT32', 64);
        scalar(`${arch}.rope.freq_base`, 'FLOAT32', 100000);
        expect(m[`${arch}.attention.layer_norm_rms_epsilon`]!.value).toBeCloseTo(1e-5, 10);
        if (arch === 'llama') {
          scalar('llama.feed_forward_length', 'UINT32', 768);
          scalar('llama.attention.head_count', 'UINT32', 9);
          scalar('llama.attention.head_count_kv', 'UINT32', 3);
        } else {
          // llama.cpp's deci reads these per layer
          const arr = (k: string, value: number[]): void => {
            expect({ k, types: m[k]?.types, value: m[k]?.value }).toEqual({
              k,
              types: ['ARRAY', 'INT32'],
              value,
            });
          };
          arr('deci.feed_forward_length', perLayer.intermediate);
          arr('deci.attention.head_count', new Array<number>(5).fill(9));
          arr('deci.attention.head_count_kv', new Array<number>(5).fill(3));
        }
        expect(m['tokenizer.ggml.model']!.value).toBe('gpt2');
        expect(m['tokenizer.ggml.pre']!.value).toBe('smollm');
        expect(m['tokenizer.ggml.tokens']!.length).toBe(49152);
        expect(m['tokenizer.ggml.token_type']!.types).toEqual(['ARRAY', 'INT32']);
        expect(m['tokenizer.ggml.merges']!.length).toBe(48900);
        expect(m['tokenizer.ggml.bos_token_id']!.value).toBe(1);
        expect(m['tokenizer.ggml.eos_token_id']!.value).toBe(2);
        // tensor names: exactly llama.cpp's, each allowed for the architecture
        const names = ['token_embd.weight', 'output_norm.weight'];
        for (let l = 0; l < spec.layers; l++)
          for (const n of [
            'attn_norm',
            'attn_q',
            'attn_k',
            'attn_v',
            'attn_output',
            'ffn_norm',
            'ffn_gate',
            'ffn_up',
            'ffn_down',
          ])
            names.push(`blk.${l}.${n}.weight`);
        expect(Object.keys(t).sort()).toEqual(names.sort()); // tied embeddings: no output.weight
        for (const n of names)
          expect(allowed).toContain(n.replace(/^blk\.\d+\./, 'blk.{bid}.').replace(/\.weight$/, ''));
        for (let l = 0; l < spec.layers; l++) {
          const k = spec.intermediate[l]!;
          expect(t[`blk.${l}.ffn_gate.weight`]!.dims).toEqual([576, k]);
          expect(t[`blk.${l}.ffn_down.weight`]!.dims).toEqual([k, 576]);
          expect(t[`blk.${l}.attn_k.weight`]!.dims).toEqual([576, 192]);
          expect(t[`blk.${l}.attn_q.weight`]!.type).toBe(matrixType);
          expect(t[`blk.${l}.attn_norm.weight`]!.type).toBe('F32');
        }
        // values: what llama.cpp's reader dequantizes is what we wrote
        const g = readGguf(file);
        for (const n of [
          'token_embd.weight',
          'blk.1.attn_k.weight',
          `blk.${spec.layers - 1}.ffn_down.weight`,
        ])
          expectSameValues(readGgufTensor(g, n), t[n]!, `${file} ${n}`);
      }

      // import(export(sub-network)) is the sub-network: the per-layer one through deci, in F32
      const imported = join(tmp.path, 'imported');
      const r = importGguf(files.deci, imported);
      expect(r.widths).toEqual(perLayer.intermediate);
      const tokens = (await loadTokenizer(model.dir)).encode(
        'Sub-networks keep the first channels of each MLP.',
      );
      const cache = join(tmp.path, 'cache');
      const a = await openSubnet(model.dir, perLayer, { cacheDir: cache, threads: 2 });
      const b = await openSubnet(
        imported,
        { layers: 5, intermediate: new Array<number>(5).fill(1536) },
        { cacheDir: cache, threads: 2 },
      );
      try {
        const [la] = await a.logits([tokens]);
        const [lb] = await b.logits([tokens]);
        let worst = 0;
        for (let i = 0; i < la!.length; i++) worst = Math.max(worst, Math.abs(la![i]! - lb![i]!));
        console.log(
          `import(export(${JSON.stringify(perLayer)})): max |logit diff| ${worst.toExponential(2)} over ${tokens.length} tokens`,
        );
        expect(worst).toBeLessThanOrEqual(1e-4);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
});
