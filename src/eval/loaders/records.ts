import { readFileSync } from 'node:fs';
import { getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { parse as parseCsv } from 'csv-parse/sync';
import type { z } from 'zod';
import { EvalDataError, type ProblemList } from '../errors';
import type { SourceRef } from '../types';
import { zodIssueText } from '../../zod-error';

/** A JSON record with where it starts; `node` keeps object keys in file order (JSON.parse does not for keys like "7"). */
export interface JsonRecord {
  value: unknown;
  node: Node;
  source: SourceRef;
}

const STRICT_JSON = { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false };

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function lineOf(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

function readText(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new EvalDataError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function syntaxError(file: string, line: number, errors: ParseError[]): EvalDataError {
  const first = errors[0]!;
  return new EvalDataError(`${file}:${line}: invalid JSON (${printParseErrorCode(first.error)})`);
}

/**
 * Records of a JSON-lines file, or of a JSON file holding one array of records. A `.json` file
 * that does not start with `[` is read as JSON lines (what `datasets`' `to_json` writes).
 */
export function readJsonRecords(file: string): JsonRecord[] {
  const text = readText(file);
  const starts = lineStarts(text);
  const firstChar = text.trimStart()[0];
  if (firstChar === '[') {
    const errors: ParseError[] = [];
    const root = parseTree(text, errors, STRICT_JSON);
    if (errors.length > 0 || !root) throw syntaxError(file, lineOf(starts, errors[0]?.offset ?? 0), errors);
    return (root.children ?? []).map((node) => ({
      value: getNodeValue(node),
      node,
      source: { file, line: lineOf(starts, node.offset) },
    }));
  }
  const records: JsonRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const errors: ParseError[] = [];
    const node = parseTree(line, errors, STRICT_JSON);
    if (errors.length > 0 || !node) throw syntaxError(file, i + 1, errors);
    records.push({ value: getNodeValue(node), node, source: { file, line: i + 1 } });
  }
  return records;
}

/** A CSV row (RFC 4180, no header) with the line it starts on. */
export interface CsvRecord {
  fields: string[];
  source: SourceRef;
}

export function readCsvRecords(file: string, columns: number): CsvRecord[] {
  const text = readText(file);
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parseCsv(text, {
      info: true,
      relax_quotes: false,
      skip_empty_lines: true,
    }) as unknown as typeof rows;
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new EvalDataError(`${file}:${e.lines ?? '?'}: invalid CSV: ${e.message}`);
  }
  const records: CsvRecord[] = [];
  let previousEnd = 0;
  for (const { record, info } of rows) {
    // info.lines is the line the record ends on; a quoted field may span lines.
    const newlinesInside = record.reduce((n, f) => n + (f.match(/\n/g)?.length ?? 0), 0);
    const line = Math.max(previousEnd + 1, info.lines - newlinesInside);
    previousEnd = info.lines;
    if (record.length !== columns) {
      throw new EvalDataError(`${file}:${line}: expected ${columns} columns, found ${record.length}`);
    }
    records.push({ fields: record, source: { file, line } });
  }
  return records;
}

/** Validates a record against a zod schema; problems are collected with file and line. */
export function validate<T>(
  schema: z.ZodType<T>,
  value: unknown,
  source: SourceRef,
  problems: ProblemList,
): T | undefined {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues.slice(0, 3)) {
    problems.add({ ...source, message: issue.path.length ? zodIssueText(issue) : issue.message });
  }
  return undefined;
}
