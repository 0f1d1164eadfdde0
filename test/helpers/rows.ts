import type { PackedRow } from '../../src/model/types';

/** One plain causal row predicting each next token of `tokens` (the last position predicts nothing). */
export function causalRow(tokens: number[]): PackedRow {
  return {
    tokens,
    positions: tokens.map((_, i) => i),
    segments: tokens.map(() => 0),
    targets: tokens.map((_, i) => tokens[i + 1] ?? -1),
  };
}
