import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelSize, presetConfig, countParameters } from '../../../src/model/size';
import { canonicalSubnet, readSubnetArg, subnetHash, fullSubnet } from '../../../src/model/subnet';

const llama7b = presetConfig('llama2-7b');

describe('sub-network specs', () => {
  it('canonicalises one-entry-per-base-layer specs by dropping inactive layers', () => {
    const widths = [...new Array(24).fill(11008), ...new Array(8).fill(5504)];
    const a = canonicalSubnet({ layers: 24, intermediate: widths }, llama7b);
    const b = canonicalSubnet({ intermediate: widths.slice(0, 24), layers: 24 }, llama7b);
    expect(a.intermediate).toHaveLength(24);
    expect(b).toEqual(a);
    expect(subnetHash(a)).toBe(subnetHash(b));
    expect(subnetHash(a)).toMatch(/^[0-9a-f]{16}$/);
    const c = canonicalSubnet({ layers: 24, intermediate: [...widths.slice(0, 23), 5504] }, llama7b);
    expect(subnetHash(c)).not.toBe(subnetHash(a));
  });

  it('rejects specs that do not fit the base, naming the field', () => {
    expect(() => canonicalSubnet({ layers: 33, intermediate: new Array(33).fill(1) }, llama7b)).toThrow(
      /layers is 33, but the base model has only 32/,
    );
    expect(() => canonicalSubnet({ layers: 2, intermediate: [11008, 11009] }, llama7b)).toThrow(
      /intermediate\[1\] is 11009, larger than the base model's intermediate size 11008/,
    );
    expect(() => canonicalSubnet({ layers: 2, intermediate: [1, 2, 3] }, llama7b)).toThrow(
      /intermediate has 3 entries; expected 2/,
    );
    expect(() => canonicalSubnet({ layers: 2, intermediate: [1, 0] }, llama7b)).toThrow(/intermediate\.1/);
    expect(() => canonicalSubnet({ layers: 1.5, intermediate: [1] }, llama7b)).toThrow(/layers/);
    expect(() => canonicalSubnet({ layers: 1, intermediate: [1], width: 3 }, llama7b)).toThrow(/width/);
  });

  it('reads a spec from JSON text or @file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spec-'));
    try {
      const file = join(dir, 's.json');
      writeFileSync(file, '{"layers": 1, "intermediate": [3]}');
      expect(readSubnetArg(`@${file}`).json).toEqual({ layers: 1, intermediate: [3] });
      expect(readSubnetArg('{"layers":2}').json).toEqual({ layers: 2 });
      expect(() => readSubnetArg('{layers')).toThrow(/not valid JSON/);
      expect(() => readSubnetArg(`@${dir}/nope.json`)).toThrow(/nope\.json: cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('size accounting', () => {
  it('reproduces the paper figures for LLaMA2-7B in float16', () => {
    const full = modelSize(llama7b, fullSubnet(llama7b), 'f16');
    expect(full.parameters).toBe(6_738_415_616);
    expect(full.gib.toFixed(2)).toBe('12.55');
    const spec = { layers: 24, intermediate: [...new Array(16).fill(11008), ...new Array(8).fill(5504)] };
    const small = modelSize(llama7b, spec, 'f16');
    expect(small.parameters).toBe(4_578_283_520);
    expect(small.bytes).toBe(2 * 4_578_283_520);
    expect(small.gib.toFixed(2)).toBe('8.53');
  });

  it('counts GQA, tied embeddings and int8 linear layers', () => {
    const c = { ...presetConfig('tinyllama-1.1b') };
    expect(countParameters(c).total).toBe(1_100_048_384);
    const tied = countParameters({ ...c, tieWordEmbeddings: true });
    expect(countParameters(c).total - tied.total).toBe(32000 * 2048);
    const q = modelSize(llama7b, undefined, 'f16', 'int8');
    const p = countParameters(llama7b);
    expect(q.bytes).toBe(2 * p.other + p.decoderLinear);
  });
});
