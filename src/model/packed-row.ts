import type { PackedRow } from './types';

/** Throws the caller's error (which names the row) with a message naming the problem. */
export type RowFail = (msg: string) => never;

/** Checks that positions, segments and targets have one entry per token. */
export function checkRowFieldLengths(row: PackedRow, fail: RowFail): void {
  const n = row.tokens.length;
  for (const [field, arr] of [
    ['positions', row.positions],
    ['segments', row.segments],
    ['targets', row.targets],
  ] as const) {
    if (arr.length !== n) fail(`${field} has ${arr.length} entries, tokens ${n}`);
  }
}

/** Checks that segment 0 is the root and every other segment's parent is an earlier segment. */
export function checkRowParents(parents: readonly number[], fail: RowFail): void {
  if (parents[0] !== -1) fail('parents[0] must be -1 (segment 0 is the root)');
  for (let s = 1; s < parents.length; s++) {
    const p = parents[s]!;
    if (!Number.isInteger(p) || p < 0 || p >= s) fail(`parents[${s}] = ${p} must name an earlier segment`);
  }
}
