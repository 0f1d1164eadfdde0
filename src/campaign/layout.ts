/**
 * A campaign's folder, one module for the code that writes it (the activities) and the code that
 * reads it back (the report, the tests):
 *
 *   campaign.json                                   the prepared campaign
 *   computed.jsonl                                  one line per evaluation computed (not answered by the cache)
 *   search/<task>/<search identity>/state-NNN-proposed.json, state-NNN-recorded.json
 *                                                   the LINAS state after each step of loop NNN
 *   evaluations/<context hash>/context.json, <key>.json
 *                                                   every evaluation the campaign used, by its context
 *   results.json, report/                           the analysis's input and the report
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../fsutil';
import { canonicalJson } from '../search/cache';
import type { EvaluationResult } from './types';

/** A short content hash of JSON (object keys in canonical order). */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

export function campaignFile(campaignDir: string): string {
  return join(campaignDir, 'campaign.json');
}

export function resultsFile(campaignDir: string): string {
  return join(campaignDir, 'results.json');
}

export function reportDir(campaignDir: string): string {
  return join(campaignDir, 'report');
}

// --- search state

/** The folder of one search: its task, and the identity of what its proposals depend on. */
export function searchRunDir(campaignDir: string, task: string, identity: string): string {
  return join(campaignDir, 'search', task, identity);
}

export type StatePhase = 'proposed' | 'recorded';

export function stateFile(runDir: string, loop: number, phase: StatePhase): string {
  return join(runDir, `state-${String(loop).padStart(3, '0')}-${phase}.json`);
}

const RECORDED = /^state-\d+-recorded\.json$/;

/** The newest recorded state of a search, if it recorded any. */
export function lastRecordedState(runDir: string): string | undefined {
  if (!existsSync(runDir)) return undefined;
  const last = readdirSync(runDir)
    .filter((f) => RECORDED.test(f))
    .sort()
    .pop();
  return last ? join(runDir, last) : undefined;
}

/** Every recorded state of every search of the campaign. */
export function recordedStates(campaignDir: string): string[] {
  const root = join(campaignDir, 'search');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((task) =>
    readdirSync(join(root, task)).flatMap((run) =>
      readdirSync(join(root, task, run))
        .filter((f) => RECORDED.test(f))
        .map((f) => join(root, task, run, f)),
    ),
  );
}

// --- evaluations

export interface ComputedEntry {
  key: string;
  task: string;
  quant: string;
  at: string;
}

/** Notes an evaluation that was computed rather than answered by the cache. */
export function logComputed(campaignDir: string, entry: ComputedEntry): void {
  mkdirSync(campaignDir, { recursive: true });
  appendFileSync(join(campaignDir, 'computed.jsonl'), `${JSON.stringify(entry)}\n`);
}

export function readComputed(campaignDir: string): ComputedEntry[] {
  const file = join(campaignDir, 'computed.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ComputedEntry);
}

function evaluationsDir(campaignDir: string, context: object): string {
  return join(campaignDir, 'evaluations', hashOf(context));
}

/**
 * Keeps an evaluation the campaign used, for its report, grouped by its context: a rerun with
 * another checkpoint or other settings never mixes in.
 */
export function writeEvaluation(campaignDir: string, context: object, result: EvaluationResult): void {
  const dir = evaluationsDir(campaignDir, context);
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'context.json'))) writeJsonAtomic(join(dir, 'context.json'), context);
  writeJsonAtomic(join(dir, `${result.key.replace(/[^A-Za-z0-9._-]/g, '_')}.json`), result);
}

/** The evaluations kept under a context, in file order. */
export function readEvaluations(campaignDir: string, context: object): EvaluationResult[] {
  const dir = evaluationsDir(campaignDir, context);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json') && n !== 'context.json')
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as EvaluationResult);
}
