import {
  canonicalGenes,
  createSpace,
  decode,
  encode,
  geneBounds,
  geneCount,
  genesKey,
  llama2Space,
  parseSubnetKey,
  spaceSize,
  subnetKey,
} from '../../../src/search/space';

describe('search space', () => {
  const space = llama2Space();

  it('encodes the paper space as 1 + 32 genes of the right sizes', () => {
    expect(geneCount(space)).toBe(33);
    const { lower, upper } = geneBounds(space);
    expect(lower.every((v) => v === 0)).toBe(true);
    expect(upper).toEqual([2, ...new Array(32).fill(1)]);
    const size = spaceSize(space);
    expect(size.genotypes).toBe(3n * 2n ** 32n); // the paper's "about 1.3e10"
    expect(size.architectures).toBe(2n ** 24n + 2n ** 28n + 2n ** 32n);
  });

  it('decodes genes to a sub-network keeping the first L layers', () => {
    const genes = [0, ...new Array(16).fill(1), ...new Array(16).fill(0)];
    const spec = decode(space, genes);
    expect(spec.layers).toBe(24);
    expect(spec.intermediate).toEqual([...new Array(16).fill(11008), ...new Array(8).fill(5504)]);
    expect(subnetKey(spec)).toBe('24:11008x16,5504x8');
  });

  it('drops inactive genes in the canonical form and the key', () => {
    const a = [0, ...new Array(24).fill(1), 1, 0, 1, 0, 1, 0, 1, 0];
    const b = [0, ...new Array(24).fill(1), 0, 0, 0, 0, 0, 0, 0, 0];
    expect(canonicalGenes(space, a)).toEqual(b);
    expect(genesKey(space, a)).toBe(genesKey(space, b));
    expect(genesKey(space, [1, ...a.slice(1)])).not.toBe(genesKey(space, [1, ...b.slice(1)]));
  });

  it('round-trips spec, genes and key', () => {
    const spec = { layers: 28, intermediate: Array.from({ length: 28 }, (_, i) => (i % 3 ? 5504 : 11008)) };
    const genes = encode(space, spec);
    expect(decode(space, genes)).toEqual(spec);
    expect(parseSubnetKey(subnetKey(spec))).toEqual(spec);
  });

  it('supports other layer counts and per-layer width lists', () => {
    const s = createSpace({ layerCounts: [4, 2], widths: [[8, 16], [8], [4, 8, 16], [16, 32]] });
    expect(s.layerCounts).toEqual([2, 4]);
    expect(geneBounds(s).upper).toEqual([1, 1, 0, 2, 1]);
    expect(spaceSize(s).architectures).toBe(2n * 1n + 2n * 1n * 3n * 2n);
    expect(decode(s, [0, 1, 0, 2, 1])).toEqual({ layers: 2, intermediate: [16, 8] });
  });

  it('names the problem in its errors', () => {
    expect(() => createSpace({ layerCounts: [2, 2], widths: [1] })).toThrow(
      /layerCounts: option 2 is listed twice/,
    );
    expect(() => createSpace({ layerCounts: [3], widths: [[1], [2]] })).toThrow(/2 per-layer lists/);
    expect(() => createSpace({ layerCounts: [], widths: [1] })).toThrow(/field layerCounts/);
    expect(() => decode(space, [3, ...new Array(32).fill(0)])).toThrow(/gene 0 is 3/);
    expect(() => encode(space, { layers: 20, intermediate: [] })).toThrow(/layer count 20/);
    expect(() => encode(space, { layers: 24, intermediate: new Array(24).fill(4096) })).toThrow(
      /layer 0: width 4096/,
    );
    expect(() => parseSubnetKey('24:11008x3')).toThrow(/3 widths for 24 layers/);
  });
});
