import type { TextTokenizer } from '../model/types';
import { EvalDataError } from './errors';
import { PyRandom } from './pyrandom';
import { buildRequests, describeFewshotDraw, drawShots, type TextRequest } from './prompts';
import { TASKS, type TaskDefinition } from './tasks';
import { codePointLength, pyRstrip } from './text';
import type { LoadedTask, McDoc, TaskName } from './types';

export const DEFAULT_FEWSHOT_SEED = 1234;

/** What to evaluate and how to build the prompts. */
export interface EvalSettings {
  /** Few-shot examples per prompt (default 0; TruthfulQA allows only 0). */
  shots?: number;
  /** Evaluate only the first N documents (MMLU: per subject, as the harness limits each subtask). */
  limit?: number;
  /** Evaluate a seeded random fraction of the documents (MMLU: per subject). Not with `limit`. */
  fraction?: number;
  /** Seed of the fraction draw (default 0). */
  sampleSeed?: number;
  /** Seed of the few-shot draw (default 1234, the harness's). */
  fewshotSeed?: number;
  /** Prepend the tokenizer's BOS to every request (harness > 0.4.9.1 does; up to 0.4.9.1 it does not). */
  bos?: boolean;
  /** Keep the prompt strings for the per-item output. */
  keepPrompts?: boolean;
}

export interface ResolvedSettings {
  shots: number;
  limit: number | null;
  fraction: number | null;
  sampleSeed: number | null;
  fewshotSeed: number;
  fewshotDraw: string;
  bos: boolean;
}

/** One loglikelihood request as token ids, split as the harness splits it. */
export interface TokenizedRequest {
  context: number[];
  continuation: number[];
}

export interface PreparedItem {
  /** Index of the document in the evaluation split (the harness's doc_id). */
  docIndex: number;
  doc: McDoc;
  shotIds: string[];
  requests: TokenizedRequest[];
  /** Code points of each choice text, the acc_norm denominators. */
  choiceLengths: number[];
  /** The request strings, when asked for (settings.keepPrompts). */
  text?: TextRequest[];
}

/** A task's prompts, tokenized once and scored with any number of sub-networks. */
export interface PreparedTask {
  definition: TaskDefinition;
  name: TaskName;
  files: LoadedTask['files'];
  /** Documents in the evaluation split before --limit / --fraction. */
  numDocs: number;
  items: PreparedItem[];
  settings: ResolvedSettings;
  requestCount: number;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Tokens with the optional BOS, as the harness's tok_encode with add_special_tokens. */
function encode(tokenizer: TextTokenizer, text: string, bos: boolean): number[] {
  const ids = tokenizer.encode(text);
  return bos ? [tokenizer.bosId!, ...ids] : ids;
}

/**
 * The harness's context/continuation split: trailing whitespace of the context moves to the
 * continuation; the continuation's tokens are those of tokenize(context + continuation) past
 * len(tokenize(context)). An empty context becomes the BOS token (EOS when there is none).
 */
export function encodePair(
  tokenizer: TextTokenizer,
  context: string,
  continuation: string,
  bos: boolean,
  contextCache?: Map<string, number[]>,
): TokenizedRequest {
  if (context === '') {
    const prefix = tokenizer.bosId ?? tokenizer.eosId;
    if (prefix === undefined)
      throw new Error('empty context needs a BOS or EOS token, and the tokenizer has neither');
    return { context: [prefix], continuation: encode(tokenizer, continuation, bos) };
  }
  const stripped = pyRstrip(context);
  const cont = context.slice(stripped.length) + continuation;
  let contextIds = contextCache?.get(stripped);
  if (!contextIds) {
    contextIds = encode(tokenizer, stripped, bos);
    contextCache?.set(stripped, contextIds);
  }
  const whole = encode(tokenizer, stripped + cont, bos);
  return { context: contextIds, continuation: whole.slice(contextIds.length) };
}

function checkInteger(value: number | undefined, name: string, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
    throw new SettingsError(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

export function resolveSettings(def: TaskDefinition, settings: EvalSettings): ResolvedSettings {
  const shots = settings.shots ?? 0;
  checkInteger(shots, 'shots', 0);
  checkInteger(settings.limit, 'limit', 1);
  checkInteger(settings.sampleSeed, 'sample seed', 0);
  checkInteger(settings.fewshotSeed, 'few-shot seed', 0);
  if (shots > 0 && def.sampler === null)
    throw new SettingsError(`${def.name} is evaluated zero-shot only (the harness fixes num_fewshot: 0)`);
  if (settings.fraction !== undefined) {
    if (!(settings.fraction > 0 && settings.fraction <= 1))
      throw new SettingsError(`fraction must be in (0, 1], got ${settings.fraction}`);
    if (settings.limit !== undefined) throw new SettingsError('use either limit or fraction, not both');
  }
  const fewshotSeed = settings.fewshotSeed ?? DEFAULT_FEWSHOT_SEED;
  return {
    shots,
    limit: settings.limit ?? null,
    fraction: settings.fraction ?? null,
    sampleSeed: settings.fraction !== undefined ? (settings.sampleSeed ?? 0) : null,
    fewshotSeed,
    fewshotDraw: describeFewshotDraw(def, fewshotSeed),
    bos: settings.bos ?? false,
  };
}

/**
 * Indices of the documents to evaluate, ascending. limit: the first N (per MMLU subject);
 * fraction: ceil(F * n) indices drawn with CPython's random.Random(seed).sample(range(n), m)
 * (per MMLU subject), so the subset can be reproduced in Python.
 */
export function selectDocs(docs: McDoc[], settings: ResolvedSettings): number[] {
  const groups = new Map<string, number[]>();
  docs.forEach((doc, i) => {
    const key = doc.subject ?? '';
    const list = groups.get(key) ?? [];
    list.push(i);
    groups.set(key, list);
  });
  const chosen: number[] = [];
  const rnd = settings.fraction !== null ? new PyRandom(settings.sampleSeed ?? 0) : undefined;
  for (const members of groups.values()) {
    if (settings.limit !== null) chosen.push(...members.slice(0, settings.limit));
    else if (rnd && settings.fraction !== null) {
      const m = Math.ceil(settings.fraction * members.length);
      chosen.push(...rnd.sampleIndices(members.length, m).map((j) => members[j]!));
    } else chosen.push(...members);
  }
  return chosen.sort((a, b) => a - b);
}

/**
 * Builds and tokenizes every request of the selected documents. Do this once per task and
 * tokenizer; score the result with as many sub-networks as needed (scoreTask).
 */
export function prepareTask(
  task: LoadedTask,
  tokenizer: TextTokenizer,
  settings: EvalSettings = {},
  onProgress?: (done: number, total: number) => void,
): PreparedTask {
  const def = TASKS[task.name];
  const resolved = resolveSettings(def, settings);
  if (resolved.bos && tokenizer.bosId === undefined)
    throw new SettingsError('BOS asked for, but the tokenizer defines no BOS token');
  const shots = drawShots(def, task, resolved.shots, resolved.fewshotSeed);
  const selected = selectDocs(task.docs, resolved);
  const items: PreparedItem[] = [];
  let requestCount = 0;
  for (const [n, docIndex] of selected.entries()) {
    const doc = task.docs[docIndex]!;
    const text = buildRequests(def, doc, shots[docIndex]!);
    const cache = new Map<string, number[]>();
    const requests = text.map((r) => encodePair(tokenizer, r.context, r.continuation, resolved.bos, cache));
    for (const [c, r] of requests.entries()) {
      if (r.continuation.length === 0) {
        throw new EvalDataError(
          `${doc.source.file}:${doc.source.line}: choice ${c} tokenizes to an empty continuation`,
        );
      }
    }
    requestCount += requests.length;
    items.push({
      docIndex,
      doc,
      shotIds: shots[docIndex]!.map((s) => s.id),
      requests,
      choiceLengths: doc.choices.map(codePointLength),
      ...(settings.keepPrompts ? { text } : {}),
    });
    onProgress?.(n + 1, selected.length);
  }
  return {
    definition: def,
    name: task.name,
    files: task.files,
    numDocs: task.docs.length,
    items,
    settings: resolved,
    requestCount,
  };
}
