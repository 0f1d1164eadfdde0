/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { openCheckpoint } from '../../../src/model/checkpoint';
import { EXPORT_INFO_FILE, EXPORT_MODEL_FILE, exportSubnet, measureExport } from '../../../src/model/export';
import { decodeInitializers, decodeNodes } from '../../../src/model/onnx';
import { type SubnetSession, openSubnet } from '../../../src/model/runtime';
import { countParameters } from '../../../src/model/size';
import type { PackedRow } from '../../../src/model/types';
import { tinyConfig, writeRandomCheckpoint } from '../../fixtures/model/random-checkpoint';
import { causalRow } from '../../helpers/rows';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('ONNX runtime of sub-networks', () => {
  let dir: string;
  let modelDir: string;
  let session: SubnetSession;
  const config = tinyConfig();
  const small = { layers: 2, intermediate: [16, 48, 1] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rt-'));
    modelDir = join(dir, 'model');
    writeRandomCheckpoint(modelDir, config, 11);
    session = await openSubnet(modelDir, small, { cacheDir: join(dir, 'cache'), threads: 1 });
  });
  afterAll(async () => {
    await session.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns log-probabilities consistent with its logits, NaN where there is no target', async () => {
    const tokens = [5, 9, 2, 33, 63, 0];
    const [scores] = await session.scorePacked([causalRow(tokens)]);
    const [logits] = await session.logits([tokens]);
    const v = config.vocabSize;
    for (let i = 0; i < tokens.length - 1; i++) {
      const row = logits!.subarray(i * v, (i + 1) * v);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      expect(scores![i]).toBeCloseTo(row[tokens[i + 1]!]! - lse, 4);
      expect(scores![i]).toBeLessThan(0);
    }
    expect(scores![tokens.length - 1]).toBeNaN();
  });

  it('scores a packed prefix with branches like separate sequences', async () => {
    const prefix = [3, 14, 15, 9];
    const a = [26, 5];
    const b = [35, 8, 9];
    const packed: PackedRow = {
      tokens: [...prefix, ...a, ...b],
      positions: [0, 1, 2, 3, 4, 5, 4, 5, 6],
      segments: [0, 0, 0, 0, 1, 1, 2, 2, 2],
      targets: [-1, -1, -1, a[0]!, a[1]!, -1, b[1]!, b[2]!, -1],
    };
    // branch b's first token is predicted from the prefix end, which packing cannot express in
    // the same row as branch a's; it is scored separately below
    const [got] = await session.scorePacked([packed]);
    const [alone, aloneB] = await session.scorePacked([
      causalRow([...prefix, ...a]),
      causalRow([...prefix, ...b]),
    ]);
    expect(Math.abs(got![3]! - alone![3]!)).toBeLessThan(1e-5);
    expect(Math.abs(got![4]! - alone![4]!)).toBeLessThan(1e-5);
    expect(Math.abs(got![6]! - aloneB![4]!)).toBeLessThan(1e-5);
    expect(Math.abs(got![7]! - aloneB![5]!)).toBeLessThan(1e-5);
    expect(got![5]).toBeNaN();
  });

  it('scores a tree of segments (shared prefix, two questions, their branches) like separate sequences', async () => {
    const prefix = [3, 14, 15];
    const q1 = [9, 26];
    const q2 = [5, 35, 8];
    const [b1, b2] = [[7], [11]];
    // segments: 0 prefix; 1 question one; 2 and 3 its branches; 4 question two
    const packed: PackedRow = {
      tokens: [...prefix, ...q1, ...b1!, ...b2!, ...q2],
      positions: [0, 1, 2, 3, 4, 5, 5, 3, 4, 5],
      segments: [0, 0, 0, 1, 1, 2, 3, 4, 4, 4],
      parents: [-1, 0, 1, 1, 0],
      targets: [-1, -1, -1, -1, -1, 1, 2, q2[1]!, q2[2]!, 4],
    };
    const [got] = await session.scorePacked([packed]);
    const [one, two, three] = await session.scorePacked([
      { ...causalRow([...prefix, ...q1, ...b1!]), targets: [-1, -1, -1, -1, -1, 1] },
      { ...causalRow([...prefix, ...q1, ...b2!]), targets: [-1, -1, -1, -1, -1, 2] },
      causalRow([...prefix, ...q2, 4]),
    ]);
    expect(Math.abs(got![5]! - one![5]!)).toBeLessThan(1e-5);
    expect(Math.abs(got![6]! - two![5]!)).toBeLessThan(1e-5);
    expect(Math.abs(got![7]! - three![3]!)).toBeLessThan(1e-5);
    expect(Math.abs(got![8]! - three![4]!)).toBeLessThan(1e-5);
    expect(Math.abs(got![9]! - three![5]!)).toBeLessThan(1e-5);
    await expect(session.scorePacked([{ ...packed, parents: [-1, 0, 3, 1, 0] }])).rejects.toThrow(
      /parents\[2\] = 3/,
    );
  });

  it('gives the same scores batched with padding as one row at a time', async () => {
    const rows = [
      causalRow([1, 2, 3]),
      causalRow([7, 7, 7, 7, 7, 7, 7, 7]),
      causalRow([4]),
      causalRow([60, 61, 62, 63, 0]),
    ];
    const batched = await session.scorePacked(rows);
    for (let i = 0; i < rows.length; i++) {
      const [single] = await session.scorePacked([rows[i]!]);
      expect(batched[i]!.length).toBe(rows[i]!.tokens.length);
      const a = Array.from(batched[i]!).filter((x) => !Number.isNaN(x));
      const b = Array.from(single!).filter((x) => !Number.isNaN(x));
      if (a.length) expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
    }
  });

  it('scores a row of an int8-dq (DynamicQuantizeMatMul) sub-network the same alone as batched with rows of other lengths', async () => {
    // DynamicQuantizeMatMul ranges its activations over its whole input tensor: the session runs
    // each row alone, so no other row nor padding enters a row's range
    const rows = [
      causalRow([1, 2, 3, 4, 5, 6, 7]),
      causalRow([60, 61, 62, 63, 0, 9, 9, 9, 9, 9, 9, 12, 40]),
      causalRow([33, 8]),
      causalRow([5, 9, 2, 33]),
    ];
    for (const quant of ['int8-dq']) {
      const s = await openSubnet(modelDir, small, { cacheDir: join(dir, `c-${quant}`), threads: 1, quant });
      try {
        const batched = await s.scorePacked(rows);
        for (let i = 0; i < rows.length; i++) {
          const [alone] = await s.scorePacked([rows[i]!]);
          const [, withShort] = await s.scorePacked([rows[2]!, rows[i]!]);
          expect({ quant, i, batched: Array.from(batched[i]!) }).toEqual({
            quant,
            i,
            batched: Array.from(alone!),
          });
          expect({ quant, i, withShort: Array.from(withShort ?? []) }).toEqual({
            quant,
            i,
            withShort: Array.from(alone!),
          });
        }
      } finally {
        await s.close();
      }
    }
  });

  it('runs the final norm and lm_head only at scored positions, scoring as the full logits do (untied, tied, int8-dq)', async () => {
    const tiedDir = join(dir, 'tied-scored');
    writeRandomCheckpoint(tiedDir, tinyConfig({ tieWordEmbeddings: true }), 6);
    const sessions = [
      session,
      await openSubnet(
        tiedDir,
        { layers: 2, intermediate: [48, 8] },
        { cacheDir: join(dir, 'c2'), threads: 1 },
      ),
      await openSubnet(modelDir, small, { cacheDir: join(dir, 'c3'), threads: 1, quant: 'int8-dq' }),
    ];
    const nodes = decodeNodes(readFileSync(sessions[0]!.modelPath)).map((n) => n.opType);
    // the gather comes before the final norm (the last ReduceMean) and the head
    expect(nodes.indexOf('GatherND')).toBeGreaterThan(nodes.lastIndexOf('Softmax'));
    expect(nodes.indexOf('GatherND')).toBeLessThan(nodes.lastIndexOf('ReduceMean'));
    const v = config.vocabSize;
    const a = [5, 9, 2, 33, 63, 0, 17, 41];
    const b = [7, 8];
    for (const s of sessions) {
      // row a: two scored positions; row b: none (all NaN, also in a padded batch with a). Row a
      // alone, as logits() runs it: int8-dq quantizes activations per batch, padding would change them
      const sparse: PackedRow = {
        ...causalRow(a),
        targets: a.map((_, i) => (i === 2 ? 11 : i === 6 ? 41 : -1)),
      };
      const none: PackedRow = { ...causalRow(b), targets: [-1, -1] };
      const [got] = await s.scorePacked([sparse]);
      const [, empty] = await s.scorePacked([sparse, none]);
      expect(Array.from(empty!).every(Number.isNaN)).toBe(true);
      const [logits] = await s.logits([a]);
      expect(logits!.length).toBe(a.length * v);
      for (let i = 0; i < a.length; i++) {
        if (sparse.targets[i]! < 0) {
          expect(got![i]).toBeNaN();
          continue;
        }
        const row = logits!.subarray(i * v, (i + 1) * v);
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((acc, x) => acc + Math.exp(x - max), 0));
        expect(Math.abs(got![i]! - (row[sparse.targets[i]!]! - lse))).toBeLessThan(1e-5);
      }
      // the same position scored in a row where every position is scored
      const [dense] = await s.scorePacked([
        { ...causalRow(a), targets: a.map((_, i) => (i === 2 ? 11 : 3)) },
      ]);
      expect(Math.abs(dense![2]! - got![2]!)).toBeLessThan(1e-5);
    }
    await sessions[1]!.close();
    await sessions[2]!.close();
  });

  it('rejects malformed rows, naming the row and field', async () => {
    await expect(
      session.scorePacked([causalRow([1]), { ...causalRow([1, 2]), targets: [0] }]),
    ).rejects.toThrow(/row 1: targets has 1 entries, tokens 2/);
    await expect(session.scorePacked([causalRow([1, 64])])).rejects.toThrow(
      /row 0: tokens\[1\] = 64 is outside 0..63/,
    );
    await expect(session.scorePacked([{ ...causalRow([1, 2]), positions: [0, 128] }])).rejects.toThrow(
      /positions\[1\] = 128/,
    );
  });

  it('caches one model per sub-network next to one shared weights file', async () => {
    const cacheDir = join(dir, 'cache');
    const again = await openSubnet(modelDir, { layers: 2, intermediate: [16, 48] }, { cacheDir, threads: 1 });
    expect(again.modelPath).toBe(session.modelPath);
    await again.close();
    const full = await openSubnet(
      modelDir,
      { layers: 3, intermediate: [48, 48, 48] },
      { cacheDir, threads: 1 },
    );
    const [base] = readdirSync(cacheDir);
    expect(readdirSync(join(cacheDir, base!)).sort()).toEqual(
      [`${session.hash}.onnx`, `${full.hash}.onnx`, 'weights.bin'].sort(),
    );
    const [s] = await full.scorePacked([causalRow([1, 2, 3])]);
    const [t] = await session.scorePacked([causalRow([1, 2, 3])]);
    expect(maxAbsDiff(s!.subarray(0, 2), t!.subarray(0, 2))).toBeGreaterThan(1e-4);
    await full.close();
  });

  it('exports a self-contained folder that a bare session loads, smaller for a smaller sub-network', async () => {
    const ckpt = await openCheckpoint(modelDir);
    const outSmall = join(dir, 'export-small');
    const outFull = join(dir, 'export-full');
    const infoSmall = await exportSubnet(ckpt, small, outSmall);
    const infoFull = await exportSubnet(ckpt, { layers: 3, intermediate: [48, 48, 48] }, outFull);
    expect(infoSmall.measured.parameters).toBe(countParameters(config, small).total);
    expect(infoFull.measured.parameters).toBe(countParameters(config).total);
    expect(infoSmall.measured.bytes).toBe(4 * infoSmall.measured.parameters);
    expect(infoSmall.measured.weightsFileBytes).toBeLessThan(infoFull.measured.weightsFileBytes);
    expect(measureExport(outSmall)).toEqual({
      parameters: infoSmall.measured.parameters,
      bytes: infoSmall.measured.bytes,
    });
    expect(JSON.parse(readFileSync(join(outSmall, EXPORT_INFO_FILE), 'utf8')).subnet).toEqual({
      layers: 2,
      intermediate: [16, 48],
    });
    expect(statSync(join(outSmall, EXPORT_MODEL_FILE)).size).toBeLessThan(64 * 1024);

    const bare = await InferenceSession.create(join(outSmall, EXPORT_MODEL_FILE));
    const tokens = [5, 9, 2];
    const n = tokens.length;
    const bias = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) bias[i * n + j] = -1e30;
    const out = await bare.run({
      input_ids: new Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, n]),
      position_ids: new Tensor('int64', BigInt64Array.from([0n, 1n, 2n]), [1, n]),
      attention_bias: new Tensor('float32', bias, [1, 1, n, n]),
      score_index: new Tensor('int64', BigInt64Array.from([0n, 1n, 2n]), [1, n]),
      target_ids: new Tensor('int64', BigInt64Array.from([9n, 2n, 0n]), [1, n]),
    });
    const [viaRuntime] = await session.logits([tokens]);
    expect(maxAbsDiff(out.logits!.data as Float32Array, viaRuntime!)).toBeLessThan(1e-5);
    await bare.release();
  });

  it('declares each weight once when embeddings are tied', async () => {
    const tiedDir = join(dir, 'tied');
    writeRandomCheckpoint(tiedDir, tinyConfig({ tieWordEmbeddings: true }), 5);
    const info = await exportSubnet(
      await openCheckpoint(tiedDir),
      { layers: 1, intermediate: [4] },
      join(dir, 'tied-out'),
    );
    const names = decodeInitializers(readFileSync(join(dir, 'tied-out', EXPORT_MODEL_FILE))).map(
      (t) => t.name,
    );
    expect(new Set(names).size).toBe(names.length);
    expect(info.measured.parameters).toBe(
      countParameters(tinyConfig({ tieWordEmbeddings: true }), { layers: 1, intermediate: [4] }).total,
    );
  });

  it('builds the shared weights once when sub-networks of a base open concurrently', async () => {
    const cacheDir = join(dir, 'concurrent');
    const specs = [
      { layers: 1, intermediate: [8] },
      { layers: 2, intermediate: [48, 8] },
      { layers: 3, intermediate: [4, 4, 4] },
    ];
    const sessions = await Promise.all(specs.map((s) => openSubnet(modelDir, s, { cacheDir, threads: 1 })));
    const [base] = readdirSync(cacheDir);
    expect(readdirSync(join(cacheDir, base!)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const scores = await Promise.all(sessions.map((s) => s.scorePacked([causalRow([1, 2, 3])])));
    const again = await openSubnet(modelDir, specs[1]!, { cacheDir: join(dir, 'fresh'), threads: 1 });
    const [fresh] = await again.scorePacked([causalRow([1, 2, 3])]);
    expect(maxAbsDiff(fresh!.subarray(0, 2), scores[1]![0]!.subarray(0, 2))).toBeLessThan(1e-6);
    await Promise.all([...sessions, again].map((s) => s.close()));
  });
});
