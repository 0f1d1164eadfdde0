import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { TRUTHFULQA_PRIMER } from '../eval/loaders/truthfulqa';
import type { TaskName } from '../eval/types';
import { writeFileAtomic } from '../fsutil';
import { benchmarkTexts, buildBenchmarks, heldOutFacts, type ArcRow } from './benchmarks';
import { buildCorpus } from './corpus';
import { buildInstructions } from './instructions';
import { PROMPT_TEXTS } from './prompts';
import { Rng } from './rng';
import { VocabularyBuilder, preTokenize, tokenizerFiles } from './tokenizer';
import { FULL_SCALE, buildWorld, type WorldScale } from './world';

/** Bump when the generator's output changes for a given seed and scale (it keys every cache). */
export const GENERATOR_VERSION = 3;

/** Longest input the tokenizer config advertises (the base model's context). */
export const MODEL_MAX_LENGTH = 128;

/** Where each task's files are, relative to the world folder (what the evaluator's loaders take). */
export const TASK_PATHS: Record<TaskName, string> = {
  arc_easy: 'arc/ARC-Easy',
  arc_challenge: 'arc/ARC-Challenge',
  mmlu: 'mmlu/data',
  truthfulqa_mc1: 'truthfulqa/mc_task.json',
  winogrande: 'winogrande',
};

export const CORPUS_FILE = 'corpus.jsonl';
export const INSTRUCTIONS_FILE = 'alpaca.json';
export const TOKENIZER_DIR = 'tokenizer';
export const MANIFEST_FILE = 'world.json';

export interface WorldManifest {
  generator: 'llama-nas-world';
  version: number;
  seed: number;
  scale: WorldScale;
  stats: {
    people: number;
    cities: number;
    countries: number;
    myths: number;
    corpusDocuments: number;
    corpusTokens: number;
    instructions: number;
    vocabulary: number;
  };
  /** sha256 of every other file, by path relative to the world folder. */
  files: Record<string, string>;
}

export interface GenerateOptions {
  seed: number;
  scale?: WorldScale;
}

/** The world's files as path -> content, all computed in memory (deterministic for seed and scale). */
export function renderWorld(opts: GenerateOptions): { files: Map<string, string>; manifest: WorldManifest } {
  const scale = opts.scale ?? FULL_SCALE;
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0x7fffffff) {
    throw new RangeError(`seed must be an integer in 0..2147483647, got ${opts.seed}`);
  }
  const root = new Rng(opts.seed);
  const world = buildWorld(opts.seed, scale);
  const heldOut = heldOutFacts(world);
  const bench = buildBenchmarks(root.fork('benchmarks'), world);
  const corpus = buildCorpus(root.fork('corpus'), world, heldOut);
  const instructions = buildInstructions(root.fork('instructions'), world, heldOut);

  const files = new Map<string, string>();
  const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  files.set(CORPUS_FILE, jsonl(corpus.map((text) => ({ text }))));
  files.set(INSTRUCTIONS_FILE, JSON.stringify(instructions, null, 2) + '\n');

  const arc = (dir: string, name: string, split: { test: ArcRow[]; train: ArcRow[] }): void => {
    files.set(`${dir}/${name}-Test.jsonl`, jsonl(split.test));
    files.set(`${dir}/${name}-Train.jsonl`, jsonl(split.train));
  };
  arc(TASK_PATHS.arc_easy, 'ARC-Easy', bench.arcEasy);
  arc(TASK_PATHS.arc_challenge, 'ARC-Challenge', bench.arcChallenge);
  for (const [subject, splits] of Object.entries(bench.mmlu)) {
    for (const split of ['dev', 'val', 'test'] as const) {
      files.set(
        `${TASK_PATHS.mmlu}/${split}/${subject}_${split}.csv`,
        stringify(splits[split], { record_delimiter: '\n' }),
      );
    }
  }
  files.set(TASK_PATHS.truthfulqa_mc1, JSON.stringify(bench.truthfulqa, null, 2) + '\n');
  files.set(`${TASK_PATHS.winogrande}/dev.jsonl`, jsonl(bench.winogrande.dev));
  files.set(`${TASK_PATHS.winogrande}/train_xl.jsonl`, jsonl(bench.winogrande.train));

  // The vocabulary covers every text written plus the prompt words the evaluator and the trainer add.
  const vocab = new VocabularyBuilder();
  let corpusTokens = 0;
  for (const text of corpus) {
    vocab.add(text);
    corpusTokens += preTokenize(text).length;
  }
  for (const row of instructions)
    for (const text of [row.instruction, row.input, row.output]) vocab.add(text);
  for (const text of benchmarkTexts(bench)) vocab.add(text);
  for (const text of [...PROMPT_TEXTS, TRUTHFULQA_PRIMER]) vocab.add(text);
  const tok = tokenizerFiles(vocab.build(), MODEL_MAX_LENGTH);
  files.set(`${TOKENIZER_DIR}/tokenizer.json`, JSON.stringify(tok.tokenizerJson, null, 2) + '\n');
  files.set(`${TOKENIZER_DIR}/tokenizer_config.json`, JSON.stringify(tok.tokenizerConfig, null, 2) + '\n');
  files.set(`${TOKENIZER_DIR}/special_tokens_map.json`, JSON.stringify(tok.specialTokensMap, null, 2) + '\n');

  const hashes: Record<string, string> = {};
  for (const [path, content] of [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    hashes[path] = createHash('sha256').update(content).digest('hex');
  }
  const manifest: WorldManifest = {
    generator: 'llama-nas-world',
    version: GENERATOR_VERSION,
    seed: opts.seed,
    scale,
    stats: {
      people: world.people.length,
      cities: world.cities.length,
      countries: world.countries.length,
      myths: world.myths.length,
      corpusDocuments: corpus.length,
      corpusTokens,
      instructions: instructions.length,
      vocabulary: Object.keys((tok.tokenizerJson as { model: { vocab: object } }).model.vocab).length,
    },
    files: hashes,
  };
  files.set(MANIFEST_FILE, JSON.stringify(manifest, null, 2) + '\n');
  return { files, manifest };
}

/**
 * Writes the world into `outDir` (created if missing). Each file is written atomically; the
 * manifest (world.json) last, so a folder with a manifest is complete.
 */
export function generateWorld(outDir: string, opts: GenerateOptions): WorldManifest {
  const { files, manifest } = renderWorld(opts);
  rmSync(join(outDir, MANIFEST_FILE), { force: true });
  for (const [path, content] of files)
    if (path !== MANIFEST_FILE) writeFileAtomic(join(outDir, path), content);
  writeFileAtomic(join(outDir, MANIFEST_FILE), files.get(MANIFEST_FILE) as string);
  return manifest;
}
