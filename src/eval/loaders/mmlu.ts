import { basename, dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { EvalDataError, ProblemList } from '../errors';
import { pyStrip } from '../text';
import type { LoadedTask, LoadOptions, McDoc, SourceRef } from '../types';
import { isDirectory, isJsonFile, listFiles, namesSplit, pickOne } from './files';
import { readCsvRecords, readJsonRecords, validate } from './records';

export const MMLU_LETTERS = ['A', 'B', 'C', 'D'] as const;

/** The original CSV columns: question, the four answers, the answer letter. */
const CsvRow = z.object({
  question: z.string().min(1),
  A: z.string(),
  B: z.string(),
  C: z.string(),
  D: z.string(),
  answer: z.enum(MMLU_LETTERS),
});

/** The Hugging Face export (cais/mmlu): `answer` is the index 0-3. */
const HfRow = z.object({
  question: z.string().min(1),
  subject: z
    .string()
    .regex(/^[a-z0-9_]+$/, 'subject must be a lower-case MMLU subject name like "college_physics"'),
  choices: z.array(z.string()).length(4),
  answer: z.number().int().min(0).max(3),
});

/** doc_to_text of the harness's MMLU template. */
export function mmluText(question: string, choices: readonly string[]): string {
  const lines = MMLU_LETTERS.map((letter, i) => `${letter}. ${choices[i]}`);
  return `${pyStrip(question)}\n${lines.join('\n')}\nAnswer:`;
}

function makeDoc(
  subject: string,
  index: number,
  source: SourceRef,
  question: string,
  choices: string[],
  gold: number,
): McDoc {
  return {
    id: `${subject}/${index}`,
    source,
    subject,
    text: mmluText(question, choices),
    choices: [...MMLU_LETTERS],
    gold,
  };
}

const CSV_NAME = /^(.+)_(test|dev|val)\.csv$/;

function loadCsv(file: string, problems: ProblemList): McDoc[] {
  const subject = CSV_NAME.exec(basename(file))![1]!;
  const docs: McDoc[] = [];
  for (const [index, { fields, source }] of readCsvRecords(file, 6).entries()) {
    const [question, A, B, C, D, answer] = fields;
    const row = validate(CsvRow, { question, A, B, C, D, answer }, source, problems);
    if (!row) continue;
    const choices = [row.A, row.B, row.C, row.D];
    docs.push(makeDoc(subject, index, source, row.question, choices, MMLU_LETTERS.indexOf(row.answer)));
  }
  return docs;
}

function loadHf(files: string[], problems: ProblemList): McDoc[] {
  const docs: McDoc[] = [];
  const perSubject = new Map<string, number>();
  for (const file of files) {
    for (const record of readJsonRecords(file)) {
      const row = validate(HfRow, record.value, record.source, problems);
      if (!row) continue;
      const index = perSubject.get(row.subject) ?? 0;
      perSubject.set(row.subject, index + 1);
      docs.push(makeDoc(row.subject, index, record.source, row.question, row.choices, row.answer));
    }
  }
  return docs;
}

/** Subjects in alphabetical order (the order the harness lists its mmlu_* tasks), rows in file order. */
function bySubject(docs: McDoc[]): McDoc[] {
  return docs
    .map((doc, i) => ({ doc, i }))
    .sort((x, y) => (x.doc.subject! < y.doc.subject! ? -1 : x.doc.subject! > y.doc.subject! ? 1 : x.i - y.i))
    .map((x) => x.doc);
}

/**
 * `path` is the original distribution (`data/` with `test/` and `dev/` folders of
 * `<subject>_<split>.csv`, or the folder above it), one `<subject>_test.csv`, or a Hugging Face
 * export (a folder or a file; test and dev splits as JSON lines or JSON).
 */
export function loadMmlu(path: string, opts: LoadOptions): LoadedTask {
  const problems = new ProblemList();
  let evalFiles: string[];
  let fewshotFiles: string[] = [];
  let docs: McDoc[];
  let fewshotDocs: McDoc[] | undefined;
  const dir = isDirectory(path);
  const all = dir ? listFiles(path) : [path];
  const csv = all.filter((f) => CSV_NAME.exec(basename(f))?.[2] === 'test');
  if (csv.length > 0) {
    evalFiles = csv;
    if (opts.fewshot) {
      // The dev file of each subject sits in ../dev/ (original layout) or beside the test file.
      fewshotFiles = csv.map((f) => {
        const subject = CSV_NAME.exec(basename(f))![1]!;
        const options = [
          join(dirname(dirname(f)), 'dev', `${subject}_dev.csv`),
          join(dirname(f), `${subject}_dev.csv`),
        ];
        const found = options.find((o) => existsSync(o));
        if (!found)
          throw new EvalDataError(
            `${f}: few-shot needs ${subject}_dev.csv (looked for ${options.join(' and ')})`,
          );
        return found;
      });
    }
    docs = evalFiles.flatMap((f) => loadCsv(f, problems));
    fewshotDocs = opts.fewshot ? fewshotFiles.flatMap((f) => loadCsv(f, problems)) : undefined;
  } else {
    const root = dir ? path : dirname(path);
    const json = (dir ? all : listFiles(root)).filter(isJsonFile);
    evalFiles = dir
      ? pickOne(
          json.filter((f) => namesSplit(f, 'test')),
          'MMLU test split',
          root,
        )
      : [path];
    if (evalFiles.length === 0) {
      throw new EvalDataError(
        `${path}: no MMLU test split found (data/test/<subject>_test.csv, or test.jsonl from the Hugging Face export)`,
      );
    }
    if (opts.fewshot) {
      fewshotFiles = pickOne(
        json.filter((f) => namesSplit(f, 'dev')),
        'MMLU dev split',
        root,
      );
      if (fewshotFiles.length === 0)
        throw new EvalDataError(
          `${path}: few-shot needs the MMLU dev split (dev.jsonl) next to the test split`,
        );
    }
    docs = loadHf(evalFiles, problems);
    fewshotDocs = opts.fewshot ? loadHf(fewshotFiles, problems) : undefined;
  }
  problems.throwIfAny('mmlu');
  if (docs.length === 0) throw new EvalDataError(`${evalFiles.join(', ')}: no records`);
  return {
    name: 'mmlu',
    docs: bySubject(docs),
    fewshotDocs,
    files: { eval: evalFiles, fewshot: fewshotFiles },
  };
}
