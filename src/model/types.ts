// Contracts shared by the model core (which implements them) and the evaluator (which uses them).

/** A sub-network: the first `layers` decoder layers, the first `intermediate[i]` MLP channels of layer i. */
export interface SubnetSpec {
  layers: number;
  intermediate: number[];
}

/** Text to token ids, as the checkpoint's tokenizer.json defines it. */
export interface TextTokenizer {
  /** Token ids of `text`, without special tokens (no BOS/EOS added). */
  encode(text: string): number[];
  decode(ids: number[]): string;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly vocabSize: number;
}

/**
 * One packed scoring row. Token i sees token j iff j <= i and (segments[j] === 0 ||
 * segments[j] === segments[i]): segment 0 is a shared prefix (a question's context) and each
 * other segment a branch (one choice's continuation), so the context is computed once for all
 * choices. `positions` are the rotary positions (a branch continues from the end of the
 * prefix). `targets[i]` is the token whose log-probability is wanted at position i (the next
 * token of i's own branch), or -1.
 */
export interface PackedRow {
  tokens: number[];
  positions: number[];
  segments: number[];
  targets: number[];
}

/** Scores packed rows with one sub-network. */
export interface SequenceScorer {
  /** Longest row (in tokens) the model accepts. */
  readonly maxLength: number;
  /** For each row, log p(targets[i] | visible tokens up to i) at each i; NaN where targets[i] < 0. */
  scorePacked(rows: PackedRow[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}
