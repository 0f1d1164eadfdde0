import { basename, dirname } from 'node:path';
import { z } from 'zod';
import { EvalDataError, ProblemList } from '../errors';
import { pyStrip } from '../text';
import type { LoadedTask, LoadOptions, McDoc } from '../types';
import { isDirectory, isJsonFile, listFiles, namesSplit, pickOne } from './files';
import { readJsonRecords, validate, type JsonRecord } from './records';

/** The original files (train_xl.jsonl, dev.jsonl) and the Hugging Face export share these fields. */
const Row = z.object({
  sentence: z.string().refine((s) => s.includes('_'), 'sentence has no "_" blank'),
  option1: z.string().min(1),
  option2: z.string().min(1),
  answer: z.union([z.enum(['1', '2']), z.literal(1), z.literal(2)], { error: 'must be "1" or "2"' }),
  qID: z.string().optional(),
});

/**
 * Partial evaluation (the harness's preprocess_winogrande): each option fills the blank and the
 * sentence up to it becomes that choice's context; the rest of the sentence is the shared
 * continuation, always after a space (even before punctuation).
 */
function toDoc(record: JsonRecord, index: number, problems: ProblemList): McDoc | undefined {
  const r = validate(Row, record.value, record.source, problems);
  if (!r) return undefined;
  const blank = r.sentence.indexOf('_');
  const before = r.sentence.slice(0, blank);
  return {
    id: r.qID ?? `winogrande/${index}`,
    source: record.source,
    text: '',
    choices: [before + r.option1, before + r.option2],
    gold: String(r.answer) === '1' ? 0 : 1,
    target: pyStrip(r.sentence.slice(blank + 1)),
  };
}

function loadFiles(files: string[], problems: ProblemList): McDoc[] {
  const docs: McDoc[] = [];
  for (const file of files) {
    for (const record of readJsonRecords(file)) {
      const doc = toDoc(record, docs.length, problems);
      if (doc) docs.push(doc);
    }
  }
  return docs;
}

/** The train split: the original's largest size (train_xl.jsonl, what winogrande_xl uses) or the export's train file. */
function trainFiles(candidates: string[], root: string): string[] {
  const xl = candidates.filter((f) => /^train_xl\.jsonl?$/i.test(basename(f)));
  if (xl.length) return pickOne(xl, 'WinoGrande train split', root);
  const sized = /^train_(xs|s|m|l)\.jsonl?$/i;
  return pickOne(
    candidates.filter((f) => namesSplit(f, 'train') && !sized.test(basename(f))),
    'WinoGrande train split',
    root,
  );
}

/** `path` is dev.jsonl / a validation export, or a folder holding it (and the train split for few-shot). */
export function loadWinogrande(path: string, opts: LoadOptions): LoadedTask {
  const dir = isDirectory(path);
  const root = dir ? path : dirname(path);
  const candidates = listFiles(root).filter(isJsonFile);
  const evalFiles = dir
    ? pickOne(
        candidates.filter((f) => namesSplit(f, 'dev') || namesSplit(f, 'validation')),
        'WinoGrande validation split',
        root,
      )
    : [path];
  if (evalFiles.length === 0)
    throw new EvalDataError(`${path}: no WinoGrande dev.jsonl or validation split found`);
  let fewshotFiles: string[] = [];
  if (opts.fewshot) {
    fewshotFiles = trainFiles(candidates, root);
    if (fewshotFiles.length === 0)
      throw new EvalDataError(
        `${path}: few-shot needs the WinoGrande train split (train_xl.jsonl or train.jsonl) next to it`,
      );
  }
  const problems = new ProblemList();
  const docs = loadFiles(evalFiles, problems);
  const fewshotDocs = opts.fewshot ? loadFiles(fewshotFiles, problems) : undefined;
  problems.throwIfAny('winogrande');
  if (docs.length === 0) throw new EvalDataError(`${evalFiles.join(', ')}: no records`);
  return { name: 'winogrande', docs, fewshotDocs, files: { eval: evalFiles, fewshot: fewshotFiles } };
}
