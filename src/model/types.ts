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
 * One packed scoring row. Segments form a tree rooted at segment 0: `parents[s]` is the parent
 * segment of segment s (`parents[0]` is -1, and a parent precedes its children in the row).
 * Token i sees token j iff j <= i and segments[j] is segments[i] or one of its ancestors. Without
 * `parents`, every segment other than 0 is a child of 0: segment 0 is a shared prefix (a
 * question's context) and each other segment a branch (one choice's continuation), so the
 * context is computed once for all choices. With `parents`, a prefix shared by several questions
 * (a few-shot preamble) can be the root, each question's own context a child of it, and each of
 * its choices a grandchild. `positions` are the rotary positions (a branch continues from the end
 * of its ancestors). `targets[i]` is the token whose log-probability is wanted at position i
 * (the next token of i's own branch), or -1.
 */
export interface PackedRow {
  tokens: number[];
  positions: number[];
  segments: number[];
  targets: number[];
  parents?: number[];
}

/** Scores packed rows with one sub-network. */
export interface SequenceScorer {
  /** Longest row (in tokens) the model accepts. */
  readonly maxLength: number;
  /** For each row, log p(targets[i] | visible tokens up to i) at each i; NaN where targets[i] < 0. */
  scorePacked(rows: PackedRow[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}
