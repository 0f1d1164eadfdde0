import { unsafeUniformIntDistribution, xoroshiro128plus, type RandomGenerator } from 'pure-rand';

/** FNV-1a over the UTF-16 code units of `text`: a stable 32-bit label hash for sub-streams. */
function hashLabel(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * A seeded random stream (xoroshiro128+). `fork(label)` gives an independent stream per part of
 * the world, so that changing how one part is drawn leaves the others' draws as they were.
 */
export class Rng {
  private readonly gen: RandomGenerator;

  constructor(readonly seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }

  fork(label: string): Rng {
    return new Rng((Math.imul(this.seed | 0, 0x9e3779b1) ^ hashLabel(label)) | 0);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0)
      throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    return unsafeUniformIntDistribution(0, n - 1, this.gen);
  }

  /** Uniform in [0, 1) with 2^-30 resolution. */
  float(): number {
    return unsafeUniformIntDistribution(0, (1 << 30) - 1, this.gen) / (1 << 30);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick: empty list');
    return items[this.int(items.length)] as T;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }

  /** `k` distinct items, in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    if (k > items.length) throw new RangeError(`Rng.sample: ${k} from ${items.length}`);
    return this.shuffle(items).slice(0, k);
  }

  /** `k` distinct items other than `exclude`, drawn from `items`. */
  sampleExcept<T>(items: readonly T[], k: number, exclude: readonly T[]): T[] {
    return this.sample(
      items.filter((x) => !exclude.includes(x)),
      k,
    );
  }
}
