import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

const DIR = join(__dirname, '../fixtures/histories');

/**
 * Determinism guard: recorded histories of real campaign and search runs must replay against
 * the current workflow code. A change that breaks them needs patched() (see README).
 * Re-record with LLAMA_NAS_RECORD_HISTORIES=1 npx jest --selectProjects integration -t uninterrupted.
 */
describe('replay of recorded workflow histories', () => {
  // file -> the workflow id it was recorded under (child workflow ids derive from it)
  const ids = JSON.parse(readFileSync(join(DIR, 'index.json'), 'utf8')) as Record<string, string>;
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'index.json');

  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
    expect(ids[file]).toBeDefined();
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, ids[file]);
  });
});
