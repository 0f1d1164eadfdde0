// A word-level tokenizer in Hugging Face tokenizer.json form, built from every text the world
// writes. The pre-tokenizer is `Whitespace` (\w+|[^\w\s]+), so "Answer:" is "Answer", ":".

export const SPECIAL_TOKENS = { unk: '<unk>', bos: '<s>', eos: '</s>', pad: '<pad>' } as const;

const WHITESPACE_RE = /\w+|[^\w\s]+/g;

export function preTokenize(text: string): string[] {
  return text.match(WHITESPACE_RE) ?? [];
}

/** Counts words over texts; the vocabulary orders them by count, then by code point. */
export class VocabularyBuilder {
  private readonly counts = new Map<string, number>();

  add(text: string): void {
    for (const w of preTokenize(text)) this.counts.set(w, (this.counts.get(w) ?? 0) + 1);
  }

  get size(): number {
    return this.counts.size;
  }

  build(): Record<string, number> {
    const specials = Object.values(SPECIAL_TOKENS);
    const words = [...this.counts.entries()]
      .filter(([w]) => !(specials as string[]).includes(w))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([w]) => w);
    const vocab: Record<string, number> = {};
    [...specials, ...words].forEach((w, i) => (vocab[w] = i));
    return vocab;
  }
}

export interface TokenizerFiles {
  tokenizerJson: unknown;
  tokenizerConfig: unknown;
  specialTokensMap: unknown;
}

export function tokenizerFiles(vocab: Record<string, number>, modelMaxLength: number): TokenizerFiles {
  const specials = Object.values(SPECIAL_TOKENS);
  return {
    tokenizerJson: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: specials.map((content) => ({
        id: vocab[content],
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
      normalizer: null,
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: null,
      decoder: null,
      model: { type: 'WordLevel', vocab, unk_token: SPECIAL_TOKENS.unk },
    },
    tokenizerConfig: {
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: SPECIAL_TOKENS.bos,
      eos_token: SPECIAL_TOKENS.eos,
      unk_token: SPECIAL_TOKENS.unk,
      pad_token: SPECIAL_TOKENS.pad,
      add_bos_token: false,
      add_eos_token: false,
      model_max_length: modelMaxLength,
      clean_up_tokenization_spaces: false,
    },
    specialTokensMap: {
      bos_token: SPECIAL_TOKENS.bos,
      eos_token: SPECIAL_TOKENS.eos,
      unk_token: SPECIAL_TOKENS.unk,
      pad_token: SPECIAL_TOKENS.pad,
    },
  };
}
