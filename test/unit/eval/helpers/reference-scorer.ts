import type { PackedRow, SequenceScorer } from '../../../../src/model/types';

/**
 * A deterministic reference language model for tests. The log-probability at position i is a
 * hash of exactly what the PackedRow contract lets token i see: the visible tokens (j <= i and
 * in i's own segment or one of its ancestors: segment 0 without `parents`) with their positions,
 * in order. Any change in what is visible or
 * where it sits changes the scores, so the fast path can only agree with the naive path when it
 * feeds each scored position the same context. It also checks every row it is given.
 */
export class ReferenceScorer implements SequenceScorer {
  readonly calls: PackedRow[][] = [];

  constructor(
    readonly maxLength: number,
    private readonly vocabSize: number,
  ) {}

  async scorePacked(rows: PackedRow[]): Promise<Float32Array[]> {
    this.calls.push(rows);
    return rows.map((row) => this.scoreRow(row));
  }

  async close(): Promise<void> {}

  get rowsScored(): number {
    return this.calls.reduce((n, c) => n + c.length, 0);
  }

  private check(row: PackedRow): void {
    const n = row.tokens.length;
    if (n === 0 || n > this.maxLength) throw new Error(`row of ${n} tokens (max ${this.maxLength})`);
    if (row.positions.length !== n || row.segments.length !== n || row.targets.length !== n)
      throw new Error('ragged row');
    for (let i = 0; i < n; i++) {
      if (row.tokens[i]! < 0 || row.tokens[i]! >= this.vocabSize)
        throw new Error(`token ${row.tokens[i]} out of vocabulary`);
      if (row.targets[i]! >= this.vocabSize) throw new Error(`target ${row.targets[i]} out of vocabulary`);
      if (i > 0 && row.segments[i] === 0 && row.segments[i - 1] !== 0)
        throw new Error('segment 0 must come first');
    }
    if (row.parents) {
      if (row.parents[0] !== -1) throw new Error('parents[0] must be -1');
      row.parents.forEach((p, s) => {
        if (s > 0 && !(p >= 0 && p < s)) throw new Error(`parents[${s}] = ${p}`);
      });
      if (row.segments.some((s) => s >= row.parents!.length)) throw new Error('segment without a parent');
    }
  }

  /** Whether a token of segment `si` sees segment `sj`: sj is si or one of its ancestors. */
  private static sees(row: PackedRow, si: number, sj: number): boolean {
    if (!row.parents) return sj === 0 || sj === si;
    for (let s = si; s >= 0; s = row.parents[s]!) if (s === sj) return true;
    return false;
  }

  private scoreRow(row: PackedRow): Float32Array {
    this.check(row);
    const out = new Float32Array(row.tokens.length).fill(Number.NaN);
    for (let i = 0; i < row.tokens.length; i++) {
      if (row.targets[i]! < 0) continue;
      let state = 0x811c9dc5;
      for (let j = 0; j <= i; j++) {
        if (!ReferenceScorer.sees(row, row.segments[i]!, row.segments[j]!)) continue;
        state = mix(mix(state, row.tokens[j]!), row.positions[j]! + 7919);
      }
      const logits = new Float64Array(this.vocabSize);
      let max = -Infinity;
      for (let v = 0; v < this.vocabSize; v++) {
        logits[v] = (mix(state, v) / 0x1_0000_0000) * 6;
        max = Math.max(max, logits[v]!);
      }
      let z = 0;
      for (let v = 0; v < this.vocabSize; v++) z += Math.exp(logits[v]! - max);
      out[i] = logits[row.targets[i]!]! - max - Math.log(z);
    }
    return out;
  }
}

function mix(h: number, x: number): number {
  let y = Math.imul(h ^ x, 0x01000193) >>> 0;
  y ^= y >>> 15;
  y = Math.imul(y, 0x2c1b3c6d) >>> 0;
  y ^= y >>> 12;
  return y >>> 0;
}
