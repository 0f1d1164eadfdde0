import {
  decodeScores,
  encodeFrame,
  encodeRows,
  FrameReader,
  TorchRowError,
} from '../../../src/eval/torch-frames';

describe('frames of the PyTorch scoring server', () => {
  it('a reader yields whole frames however the bytes are split', () => {
    const a = encodeFrame({ op: 'score', lengths: [2] }, Buffer.from([1, 2, 3, 4]));
    const b = encodeFrame({ ok: true });
    const all = Buffer.concat([a, b]);
    for (const cut of [1, 3, 7, a.length - 1, a.length, a.length + 5]) {
      const reader = new FrameReader();
      const frames = [...reader.push(all.subarray(0, cut)), ...reader.push(all.subarray(cut))];
      expect(frames.map((f) => f.header)).toEqual([{ op: 'score', lengths: [2] }, { ok: true }]);
      expect([...frames[0]!.body]).toEqual([1, 2, 3, 4]);
      expect(frames[1]!.body.length).toBe(0);
    }
    expect(a.readUInt32LE(0)).toBe(a.length - 4);
  });

  it('rows travel as int32 fields in order, parents last', () => {
    const rows = [
      {
        tokens: [5, 6, 7],
        positions: [0, 1, 2],
        segments: [0, 1, 2],
        targets: [-1, 7, -1],
        parents: [-1, 0, 1],
      },
      { tokens: [9], positions: [0], segments: [0], targets: [-1] },
    ];
    const { lengths, parentCounts, body } = encodeRows(rows);
    expect(lengths).toEqual([3, 1]);
    expect(parentCounts).toEqual([3, 0]);
    const ints = Array.from({ length: body.length / 4 }, (_, i) => body.readInt32LE(4 * i));
    expect(ints).toEqual([5, 6, 7, 9, 0, 1, 2, 0, 0, 1, 2, 0, -1, 7, -1, -1, -1, 0, 1]);
  });

  it('bad trees and mismatched fields are refused before sending', () => {
    const row = { tokens: [1, 2], positions: [0, 1], segments: [0, 1], targets: [2, -1] };
    expect(() => encodeRows([{ ...row, parents: [-1, 1] }])).toThrow(TorchRowError);
    expect(() => encodeRows([{ ...row, parents: [-1] }])).toThrow(/segment 1 has no entry in parents/);
    expect(() => encodeRows([{ ...row, targets: [1] }])).toThrow(/row 0: targets has 1 entries, tokens 2/);
  });

  it('scores come back one float32 array per row, from an unaligned buffer', () => {
    const values = new Float32Array([0.5, -1.25, Number.NaN, 3]);
    const unaligned = Buffer.concat([Buffer.from([0]), Buffer.from(values.buffer)]).subarray(1);
    const [a, b] = decodeScores(unaligned, [3, 1]);
    expect(Array.from(a!)).toEqual([0.5, -1.25, Number.NaN]);
    expect(Array.from(b!)).toEqual([3]);
    expect(() => decodeScores(unaligned, [2])).toThrow(/16 bytes for 2 values/);
  });
});
