import { dirname, relative } from 'node:path';
import { z } from 'zod';
import { EvalDataError, ProblemList } from '../errors';
import type { LoadedTask, LoadOptions, McDoc } from '../types';
import { isDirectory, isJsonFile, listFiles, namesSplit, pickOne } from './files';
import { readJsonRecords, validate, type JsonRecord } from './records';

/** The original AI2 distribution (ARC-V1-Feb2018): the question nests its stem and choices. */
const ArcOriginal = z.object({
  id: z.string().min(1),
  answerKey: z.string().min(1),
  question: z.object({
    stem: z.string().min(1),
    choices: z.array(z.object({ label: z.string().min(1), text: z.string() })).min(2),
  }),
});

/** The Hugging Face export (allenai/ai2_arc): parallel `choices.text` / `choices.label` lists. */
const ArcHf = z.object({
  id: z.string().min(1),
  question: z.string().min(1),
  choices: z.object({ text: z.array(z.string()).min(2), label: z.array(z.string().min(1)).min(2) }),
  answerKey: z.string().min(1),
});

export type ArcTask = 'arc_easy' | 'arc_challenge';

function toDoc(record: JsonRecord, problems: ProblemList): McDoc | undefined {
  const value = record.value as { question?: unknown } | null;
  const nested = typeof value === 'object' && value !== null && typeof value.question === 'object';
  let id: string, stem: string, labels: string[], texts: string[], answerKey: string;
  if (nested) {
    const r = validate(ArcOriginal, record.value, record.source, problems);
    if (!r) return undefined;
    ({ id, answerKey } = r);
    stem = r.question.stem;
    labels = r.question.choices.map((c) => c.label);
    texts = r.question.choices.map((c) => c.text);
  } else {
    const r = validate(ArcHf, record.value, record.source, problems);
    if (!r) return undefined;
    ({ id, answerKey } = r);
    stem = r.question;
    labels = r.choices.label;
    texts = r.choices.text;
    if (labels.length !== texts.length) {
      problems.add({
        ...record.source,
        message: `choices.label has ${labels.length} entries, choices.text ${texts.length}`,
      });
      return undefined;
    }
  }
  if (new Set(labels).size !== labels.length) {
    problems.add({ ...record.source, message: `choice labels repeat: ${labels.join(', ')}` });
    return undefined;
  }
  // Labels are "A".."E" on most rows and "1".."5" on some; the gold index is the answer key's
  // position among the row's own labels, whichever style the row uses.
  const gold = labels.indexOf(answerKey);
  if (gold < 0) {
    problems.add({
      ...record.source,
      message: `answerKey "${answerKey}" is not one of the labels ${labels.join(', ')}`,
    });
    return undefined;
  }
  return { id, source: record.source, text: `Question: ${stem}\nAnswer:`, choices: texts, gold };
}

function loadFiles(files: string[], problems: ProblemList): McDoc[] {
  const docs: McDoc[] = [];
  for (const file of files) {
    for (const record of readJsonRecords(file)) {
      const doc = toDoc(record, problems);
      if (doc) docs.push(doc);
    }
  }
  return docs;
}

const SUBSET_WORD: Record<ArcTask, RegExp> = { arc_easy: /easy/i, arc_challenge: /challenge/i };

/**
 * `path` is a split file (the test split; the train split is looked for beside it) or a
 * directory holding the split files, possibly the whole distribution with ARC-Easy/ and
 * ARC-Challenge/ side by side.
 */
export function loadArc(task: ArcTask, path: string, opts: LoadOptions): LoadedTask {
  let root: string;
  let candidates: string[];
  let evalFiles: string[];
  if (isDirectory(path)) {
    root = path;
    candidates = listFiles(path).filter(isJsonFile);
    // With both subsets under one root, keep the files of the subset asked for.
    const other = task === 'arc_easy' ? SUBSET_WORD.arc_challenge : SUBSET_WORD.arc_easy;
    const bySubset = (f: string) =>
      SUBSET_WORD[task].test(relative(root, f)) && !other.test(relative(root, f));
    if (candidates.some((f) => other.test(relative(root, f)))) candidates = candidates.filter(bySubset);
    evalFiles = pickOne(
      candidates.filter((f) => namesSplit(f, 'test')),
      `${task} test split`,
      root,
    );
    if (evalFiles.length === 0)
      throw new EvalDataError(
        `${path}: no ${task} test split found (a .jsonl/.json file named like test.jsonl or ARC-*-Test.jsonl)`,
      );
  } else {
    root = dirname(path);
    candidates = listFiles(root).filter(isJsonFile);
    evalFiles = [path];
  }
  let fewshotFiles: string[] = [];
  if (opts.fewshot) {
    fewshotFiles = pickOne(
      candidates.filter((f) => namesSplit(f, 'train')),
      `${task} train split`,
      root,
    );
    if (fewshotFiles.length === 0)
      throw new EvalDataError(
        `${path}: few-shot needs the ${task} train split (train.jsonl or ARC-*-Train.jsonl) next to the test split`,
      );
  }
  const problems = new ProblemList();
  const docs = loadFiles(evalFiles, problems);
  const fewshotDocs = opts.fewshot ? loadFiles(fewshotFiles, problems) : undefined;
  problems.throwIfAny(task);
  if (docs.length === 0) throw new EvalDataError(`${evalFiles.join(', ')}: no records`);
  return { name: task, docs, fewshotDocs, files: { eval: evalFiles, fewshot: fewshotFiles } };
}
