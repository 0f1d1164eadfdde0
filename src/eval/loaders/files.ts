import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { EvalDataError } from '../errors';

const MAX_DEPTH = 4;

/** Regular files under `root` (hidden entries skipped), sorted, up to a few levels deep. */
export function listFiles(root: string, depth = 0): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch (err) {
    throw new EvalDataError(`cannot read directory ${root}: ${(err as Error).message}`);
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.')) continue;
    const path = join(root, entry.name);
    if (entry.isDirectory()) {
      if (depth < MAX_DEPTH) out.push(...listFiles(path, depth + 1));
    } else if (entry.isFile()) out.push(path);
  }
  return out;
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    throw new EvalDataError(
      `data path ${path} does not exist (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/** A file name (without extension) that names a split: `test.jsonl`, `ARC-Easy-Test.jsonl`, `test-00000-of-00001.json`. */
export function namesSplit(file: string, split: string): boolean {
  const stem = basename(file).replace(/\.(jsonl|json)$/i, '');
  return new RegExp(`(^|[-_.\\s])${split}([-_.\\s]|$)`, 'i').test(stem);
}

export const isJsonFile = (file: string): boolean => /\.(jsonl|json)$/i.test(file);

const SHARD = /-\d{5}-of-\d{5}\.(jsonl|json)$/i;

/**
 * The one file (or the shards of one export) among `candidates`; several unrelated candidates are
 * an error rather than a guess.
 */
export function pickOne(candidates: string[], what: string, root: string): string[] {
  if (candidates.length <= 1) return candidates;
  const shardGroups = new Set(
    candidates.map((f) => (SHARD.test(f) ? join(dirname(f), basename(f).replace(SHARD, '')) : f)),
  );
  if (shardGroups.size === 1 && candidates.every((f) => SHARD.test(f))) return [...candidates].sort();
  const names = candidates.map((f) => relative(root, f) || f).join(', ');
  throw new EvalDataError(
    `${root}: several files could be the ${what}: ${names}; point --data at one of them`,
  );
}
