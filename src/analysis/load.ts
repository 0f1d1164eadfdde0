// Reading a campaign's results.json (a file, or a campaign folder holding one).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseTolerant, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { CampaignResultsError, parseCampaignResults, type CampaignResults } from './types';

export const RESULTS_FILE = 'results.json';

/** The results file a CAMPAIGN argument names: the path itself, or `results.json` inside a folder. */
export function resolveResultsPath(campaign: string): string {
  if (!existsSync(campaign)) throw new CampaignResultsError(`${campaign}: no such file or folder`);
  if (statSync(campaign).isDirectory()) {
    const file = join(campaign, RESULTS_FILE);
    if (!existsSync(file)) throw new CampaignResultsError(`${campaign} is a folder without ${RESULTS_FILE}`);
    return file;
  }
  return campaign;
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return `line ${line}, column ${position - before.lastIndexOf('\n')}`;
}

/** Reads and validates campaign results; errors name the file and, for bad JSON, the line. */
export function loadCampaignResults(campaign: string): CampaignResults {
  const file = resolveResultsPath(campaign);
  const text = readFileSync(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // JSON.parse does not always say where; a strict run of jsonc-parser does.
    const errors: ParseError[] = [];
    parseTolerant(text, errors, { disallowComments: true, allowTrailingComma: false });
    const where = errors.length
      ? `${lineAndColumn(text, errors[0].offset)}: ${printParseErrorCode(errors[0].error)}; `
      : '';
    throw new CampaignResultsError(`${file}: not valid JSON (${where}${(err as Error).message})`);
  }
  return parseCampaignResults(json, file);
}
