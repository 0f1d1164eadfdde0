import { z } from 'zod';
import { ModelFormatError } from './config';
import {
  type GgufFile,
  type GgufValue,
  GgufValueType,
  gguf,
  metaArray,
  metaNumber,
  metaString,
  metaValue,
} from './gguf';

/**
 * The tokenizer between llama.cpp's `tokenizer.ggml.*` metadata and a Hugging Face tokenizer.json.
 *
 * - `gpt2` (byte-level BPE): vocab and merges carry over as they are; the pre-tokenizer comes
 *   from `tokenizer.ggml.pre` (the split regexes llama.cpp applies for that name);
 * - `llama` (SentencePiece BPE): pieces with scores; the merges are derived from the scores (a
 *   pair merges into a piece of the vocabulary, higher-scoring pieces first, as SentencePiece's
 *   BPE does), "▁" for spaces, byte fallback for `<0xNN>` pieces.
 *
 * Token types (llama_token_type): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
 * Control and user-defined tokens become added tokens (control ones `special`).
 */

export const TOKEN_NORMAL = 1;
export const TOKEN_UNKNOWN = 2;
export const TOKEN_CONTROL = 3;
export const TOKEN_USER_DEFINED = 4;
export const TOKEN_BYTE = 6;

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

/** Pre-tokenizers of byte-level BPE vocabularies, by their `tokenizer.ggml.pre` name. */
const GPT2_PRE_TOKENIZERS: Record<string, object> = {
  // the GPT-2 split regex on bytes mapped to printable characters
  default: BYTE_LEVEL,
  'gpt-2': BYTE_LEVEL,
  // GPT-2's regex after every digit is split off on its own (SmolLM, SmolLM2)
  smollm: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, BYTE_LEVEL] },
};

export interface HfTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

function stringArray(g: GgufFile, key: string, required: boolean): string[] | undefined {
  const arr = metaArray(g, key);
  if (!arr) {
    if (required) throw new ModelFormatError(`${g.file}: metadata ${key} is missing`);
    return undefined;
  }
  if (arr.some((s) => typeof s !== 'string'))
    throw new ModelFormatError(`${g.file}: metadata ${key} must hold strings`);
  return arr as string[];
}

function numberArray(g: GgufFile, key: string, length: number): number[] | undefined {
  const arr = metaArray(g, key);
  if (!arr) return undefined;
  if (arr.length !== length) {
    throw new ModelFormatError(
      `${g.file}: metadata ${key} has ${arr.length} entries, tokenizer.ggml.tokens has ${length}`,
    );
  }
  return arr.map(Number);
}

function addedToken(id: number, content: string, special: boolean): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

/** A SentencePiece (LLaMA) normalizer: "▁" for spaces, and one in front where `addSpacePrefix`. */
export function sentencePieceNormalizer(addSpacePrefix: boolean): object {
  return {
    type: 'Sequence',
    normalizers: [
      ...(addSpacePrefix ? [{ type: 'Prepend', prepend: '▁' }] : []),
      { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
    ],
  };
}

/** The decoder undoing sentencePieceNormalizer, with `<0xNN>` byte pieces fused back into text. */
export function sentencePieceDecoder(addSpacePrefix: boolean): object {
  return {
    type: 'Sequence',
    decoders: [
      { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
      { type: 'ByteFallback' },
      { type: 'Fuse' },
      ...(addSpacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
    ],
  };
}

/**
 * A tokenizer.json BPE model; `sentencePiece` turns on byte fallback and the fusing of unknown
 * pieces (LLaMA vocabularies), off for byte-level (GPT-2) ones.
 */
export function bpeModel(
  vocab: Record<string, number>,
  merges: readonly unknown[],
  unkToken: string | null | undefined,
  sentencePiece: boolean,
): object {
  return {
    type: 'BPE',
    dropout: null,
    unk_token: unkToken,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: sentencePiece,
    byte_fallback: sentencePiece,
    ignore_merges: false,
    vocab,
    merges,
  };
}

/**
 * Derives BPE merges from SentencePiece scores: every split of a normal piece into two pieces
 * of the vocabulary is a merge, ranked by the merged piece's score (then by the ids of its parts).
 */
export function mergesFromScores(tokens: string[], scores: number[], types: number[]): [string, string][] {
  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (types[i] === TOKEN_NORMAL && !idOf.has(t)) idOf.set(t, i);
  });
  const merges: { l: string; r: string; score: number; li: number; ri: number }[] = [];
  for (const [piece, id] of idOf) {
    const chars = [...piece];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join('');
      const r = chars.slice(k).join('');
      const li = idOf.get(l);
      const ri = idOf.get(r);
      if (li !== undefined && ri !== undefined) merges.push({ l, r, score: scores[id]!, li, ri });
    }
  }
  merges.sort((a, b) => b.score - a.score || a.li - b.li || a.ri - b.ri);
  return merges.map((m) => [m.l, m.r]);
}

/**
 * A GGUF without a llama.cpp vocabulary: the tokenizer.json it carries under
 * `tokenizer.huggingface.json` (as this project's export writes it), or none at all.
 */
function noVocabTokenizer(g: GgufFile): HfTokenizerFiles | undefined {
  const text = metaString(g, 'tokenizer.huggingface.json');
  if (text === undefined) return undefined;
  let tokenizerJson: Record<string, unknown>;
  try {
    tokenizerJson = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ModelFormatError(
      `${g.file}: metadata tokenizer.huggingface.json is not valid JSON (${(err as Error).message})`,
    );
  }
  return { tokenizerJson, tokenizerConfig: tokenizerConfigOf(g, 'no_vocab', undefined) };
}

/** Rebuilds tokenizer.json and tokenizer_config.json from a GGUF's `tokenizer.ggml.*` metadata. */
export function tokenizerFromGguf(g: GgufFile): HfTokenizerFiles | undefined {
  const model = metaString(g, 'tokenizer.ggml.model');
  if (model === undefined)
    throw new ModelFormatError(`${g.file}: metadata tokenizer.ggml.model is missing (no tokenizer)`);
  if (model === 'no_vocab' || model === 'none') return noVocabTokenizer(g);
  const tokens = stringArray(g, 'tokenizer.ggml.tokens', true)!;
  const types = numberArray(g, 'tokenizer.ggml.token_type', tokens.length) ?? tokens.map(() => TOKEN_NORMAL);
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  tokens.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i;
    if (types[i] === TOKEN_CONTROL || types[i] === TOKEN_USER_DEFINED)
      added.push(addedToken(i, t, types[i] === TOKEN_CONTROL));
  });
  const addSpacePrefix = metaValue(g, 'tokenizer.ggml.add_space_prefix');
  let tokenizerJson: Record<string, unknown>;
  if (model === 'gpt2') {
    const pre = metaString(g, 'tokenizer.ggml.pre') ?? 'default';
    const preTokenizer = GPT2_PRE_TOKENIZERS[pre];
    if (!preTokenizer) {
      throw new ModelFormatError(
        `${g.file}: metadata tokenizer.ggml.pre is "${pre}"; supported byte-level pre-tokenizers: ${Object.keys(GPT2_PRE_TOKENIZERS).join(', ')}`,
      );
    }
    const merges = stringArray(g, 'tokenizer.ggml.merges', true)!.map((m, k) => {
      const parts = m.split(' ');
      if (parts.length !== 2)
        throw new ModelFormatError(`${g.file}: tokenizer.ggml.merges[${k}] "${m}" is not two tokens`);
      return parts as [string, string];
    });
    tokenizerJson = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: preTokenizer,
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: bpeModel(vocab, merges, null, false),
    };
  } else if (model === 'llama') {
    const scores = numberArray(g, 'tokenizer.ggml.scores', tokens.length);
    if (!scores)
      throw new ModelFormatError(
        `${g.file}: metadata tokenizer.ggml.scores is missing (a SentencePiece vocabulary needs it)`,
      );
    const unkId = metaNumber(g, 'tokenizer.ggml.unknown_token_id') ?? types.indexOf(TOKEN_UNKNOWN);
    const prefix = addSpacePrefix === undefined ? true : addSpacePrefix === true;
    for (let i = 0; i < tokens.length; i++)
      if (types[i] === TOKEN_UNKNOWN) added.push(addedToken(i, tokens[i]!, true));
    tokenizerJson = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added.sort((a, b) => (a.id as number) - (b.id as number)),
      normalizer: sentencePieceNormalizer(prefix),
      pre_tokenizer: null,
      post_processor: null,
      decoder: sentencePieceDecoder(prefix),
      model: bpeModel(
        vocab,
        mergesFromScores(tokens, scores, types),
        unkId >= 0 ? tokens[unkId] : null,
        true,
      ),
    };
  } else {
    throw new ModelFormatError(
      `${g.file}: metadata tokenizer.ggml.model is "${model}"; supported: gpt2 (byte-level BPE), llama (SentencePiece)`,
    );
  }
  return { tokenizerJson, tokenizerConfig: tokenizerConfigOf(g, model, tokens) };
}

function tokenizerConfigOf(
  g: GgufFile,
  model: string,
  tokens: string[] | undefined,
): Record<string, unknown> {
  const tokenAt = (key: string): string | undefined => {
    const id = metaNumber(g, key);
    if (id === undefined || tokens === undefined) return undefined;
    if (id < 0 || id >= tokens.length)
      throw new ModelFormatError(`${g.file}: metadata ${key} ${id} is outside the vocabulary`);
    return tokens[id];
  };
  const tokenizerConfig: Record<string, unknown> = {
    tokenizer_class: model === 'llama' ? 'LlamaTokenizer' : 'GPT2Tokenizer',
    bos_token: tokenAt('tokenizer.ggml.bos_token_id') ?? null,
    eos_token: tokenAt('tokenizer.ggml.eos_token_id') ?? null,
    unk_token: tokenAt('tokenizer.ggml.unknown_token_id') ?? null,
    pad_token: tokenAt('tokenizer.ggml.padding_token_id') ?? null,
    add_bos_token: metaValue(g, 'tokenizer.ggml.add_bos_token') === true,
    add_eos_token: metaValue(g, 'tokenizer.ggml.add_eos_token') === true,
    clean_up_tokenization_spaces: false,
  };
  const template = metaString(g, 'tokenizer.chat_template');
  if (template !== undefined) tokenizerConfig.chat_template = template;
  return tokenizerConfig;
}

// ---- tokenizer.json -> tokenizer.ggml.* (export) ----

const TokenizerJson = z.looseObject({
  added_tokens: z
    .array(z.looseObject({ id: z.number().int(), content: z.string(), special: z.boolean().optional() }))
    .default([]),
  pre_tokenizer: z.unknown().optional(),
  normalizer: z.unknown().optional(),
  model: z.looseObject({
    type: z.string().optional(),
    vocab: z.unknown(),
    merges: z.array(z.union([z.string(), z.tuple([z.string(), z.string()])])).optional(),
    byte_fallback: z.boolean().optional(),
  }),
});

const TokenizerConfig = z.looseObject({
  add_bos_token: z.boolean().optional(),
  add_eos_token: z.boolean().optional(),
  chat_template: z.string().optional(),
});

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The `tokenizer.ggml.pre` name of a byte-level pre-tokenizer, or undefined if llama.cpp has none for it. */
function gpt2PreName(pre: unknown): string | undefined {
  const strip = (p: unknown): unknown => {
    if (p && typeof p === 'object' && (p as { type?: string }).type === 'ByteLevel') {
      const { use_regex, add_prefix_space } = p as { use_regex?: boolean; add_prefix_space?: boolean };
      return {
        type: 'ByteLevel',
        add_prefix_space: add_prefix_space ?? false,
        trim_offsets: true,
        use_regex: use_regex ?? true,
      };
    }
    if (p && typeof p === 'object' && (p as { type?: string }).type === 'Sequence') {
      return {
        type: 'Sequence',
        pretokenizers: ((p as { pretokenizers?: unknown[] }).pretokenizers ?? []).map(strip),
      };
    }
    return p;
  };
  const normal = strip(pre);
  if (sameJson(normal, GPT2_PRE_TOKENIZERS.smollm)) return 'smollm';
  if (sameJson(normal, BYTE_LEVEL)) return 'gpt-2';
  return undefined;
}

/**
 * `tokenizer.ggml.*` metadata of a Hugging Face tokenizer: byte-level BPE as `gpt2` (with the
 * pre-tokenizer's name), anything else as `no_vocab` (llama.cpp then runs on token ids). The
 * tokenizer.json itself always travels too, under `tokenizer.huggingface.json`.
 */
export function ggufTokenizerMetadata(
  tokenizerJsonText: string,
  tokenizerConfig: unknown,
  ids: { bos?: number; eos?: number },
  source: string,
): [string, GgufValue][] {
  const parsed = TokenizerJson.safeParse(JSON.parse(tokenizerJsonText));
  if (!parsed.success)
    throw new ModelFormatError(`${source}: not a tokenizer.json (${parsed.error.issues[0]?.message})`);
  const tj = parsed.data;
  const cfg = TokenizerConfig.parse(tokenizerConfig ?? {});
  const out: [string, GgufValue][] = [];
  const vocabObj = z.record(z.string(), z.number().int()).safeParse(tj.model.vocab);
  const pre = gpt2PreName(tj.pre_tokenizer);
  if (
    tj.model.type === 'BPE' &&
    vocabObj.success &&
    pre &&
    !tj.model.byte_fallback &&
    tj.normalizer == null
  ) {
    const byId = new Map<number, string>();
    for (const [t, id] of Object.entries(vocabObj.data)) byId.set(id, t);
    const types = new Map<number, number>();
    for (const a of tj.added_tokens) {
      byId.set(a.id, a.content);
      types.set(a.id, a.special ? TOKEN_CONTROL : TOKEN_USER_DEFINED);
    }
    const n = Math.max(...byId.keys()) + 1;
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) {
      const t = byId.get(i);
      if (t === undefined) throw new ModelFormatError(`${source}: the vocabulary has no token with id ${i}`);
      tokens.push(t);
    }
    const merges = (tj.model.merges ?? []).map((m) => (typeof m === 'string' ? m : m.join(' ')));
    out.push(
      ['tokenizer.ggml.model', gguf.str('gpt2')],
      ['tokenizer.ggml.pre', gguf.str(pre)],
      ['tokenizer.ggml.tokens', gguf.arr(GgufValueType.STRING, tokens)],
      [
        'tokenizer.ggml.token_type',
        gguf.arr(
          GgufValueType.INT32,
          tokens.map((_, i) => types.get(i) ?? TOKEN_NORMAL),
        ),
      ],
      ['tokenizer.ggml.merges', gguf.arr(GgufValueType.STRING, merges)],
    );
  } else {
    out.push(['tokenizer.ggml.model', gguf.str('no_vocab')]);
  }
  if (ids.bos !== undefined) out.push(['tokenizer.ggml.bos_token_id', gguf.u32(ids.bos)]);
  if (ids.eos !== undefined) out.push(['tokenizer.ggml.eos_token_id', gguf.u32(ids.eos)]);
  out.push(['tokenizer.ggml.add_bos_token', gguf.bool(cfg.add_bos_token ?? false)]);
  out.push(['tokenizer.ggml.add_eos_token', gguf.bool(cfg.add_eos_token ?? false)]);
  if (cfg.chat_template !== undefined) out.push(['tokenizer.chat_template', gguf.str(cfg.chat_template)]);
  out.push(['tokenizer.huggingface.json', gguf.str(tokenizerJsonText)]);
  return out;
}
