import { PyRandom } from '../../../src/eval/pyrandom';

// Expected values printed by CPython 3.11 (random.Random), e.g.
//   python3 -c "import random; r=random.Random(1234); print([r.getrandbits(32) for _ in range(3)])"
describe('PyRandom reproduces CPython random.Random', () => {
  it('seeds MT19937 from an integer as CPython does', () => {
    const r = new PyRandom(1234);
    expect([r.getrandbits(32), r.getrandbits(32), r.getrandbits(32)]).toEqual([
      4150886329, 3342196574, 1892932127,
    ]);
    const big = new PyRandom(2 ** 40 + 5);
    expect([big.getrandbits(32), big.getrandbits(32)]).toEqual([2166296868, 2220160828]);
    const zero = new PyRandom(0);
    expect([zero.getrandbits(7), zero.getrandbits(7), zero.getrandbits(7)]).toEqual([108, 49, 97]);
  });

  it('draws random.sample indices in order, for the set-based path (large population)', () => {
    const r = new PyRandom(1234);
    expect([r.sampleIndices(2251, 5), r.sampleIndices(2251, 5), r.sampleIndices(2251, 5)]).toEqual([
      [1805, 478, 30, 371, 143],
      [343, 403, 1452, 969, 71],
      [126, 64, 1417, 1983, 1898],
    ]);
    expect(new PyRandom(1234).sampleIndices(40398, 6)).toEqual([28883, 7657, 490, 5940, 38156, 2288]);
  });

  it('draws random.sample indices for the pool path (small population, k > 5 table size)', () => {
    expect(new PyRandom(1234).sampleIndices(10, 5)).toEqual([7, 1, 0, 9, 4]);
    expect(new PyRandom(42).sampleIndices(100, 30)).toEqual([
      81, 14, 3, 94, 35, 31, 28, 17, 13, 86, 69, 11, 75, 54, 4, 97, 88, 27, 29, 64, 77, 84, 71, 25, 89, 53,
      93, 57, 95, 0,
    ]);
  });

  it('rejects a sample larger than the population', () => {
    expect(() => new PyRandom(1).sampleIndices(3, 4)).toThrow(/larger than population/);
  });
});
