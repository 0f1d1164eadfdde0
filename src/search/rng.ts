/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32) whose whole state is four
 * unsigned 32-bit integers, so it can be saved in a search's JSON state and restored in
 * another process to continue the exact same stream.
 */
export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** The initial state for an integer seed (any safe integer; both 32-bit halves are used). */
export function seedRng(seed: number): RngState {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  const high = Math.floor(seed / 0x100000000) >>> 0;
  const next = splitmix32((seed >>> 0) ^ Math.imul(high, 0x27d4eb2d));
  const state: RngState = [next(), next(), next(), next()];
  if (state.every((v) => v === 0)) state[0] = 1; // the all-zero state is a fixed point
  return state;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(state: RngState) {
    if (state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError(`RNG state must be four unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    if (state.every((v) => v === 0)) throw new RangeError('RNG state must not be all zero');
    [this.s0, this.s1, this.s2, this.s3] = state;
  }

  static fromSeed(seed: number): Rng {
    return new Rng(seedRng(seed));
  }

  /** The current state, to be stored and passed to `new Rng(state)` later. */
  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** The next unsigned 32-bit output. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1), 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [lo, hi] (both inclusive), without modulo bias. */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new RangeError(`bad integer range [${lo}, ${hi}]`);
    }
    const span = hi - lo + 1;
    if (span > 0x100000000) return lo + Math.floor(this.random() * span);
    const limit = 0x100000000 - (0x100000000 % span);
    let v = this.nextUint32();
    while (v >= limit) v = this.nextUint32();
    return lo + (v % span);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
