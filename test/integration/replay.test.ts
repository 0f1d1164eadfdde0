import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

const DIR = join(__dirname, '../fixtures/histories');

/** The `backend` of every evaluateSubnet a recorded history scheduled (absent: recorded before it existed, onnx). */
function evaluationBackends(file: string): Set<string> {
  const history = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as {
    events: {
      activityTaskScheduledEventAttributes?: {
        activityType: { name: string };
        input: { payloads: { data: string }[] };
      };
    }[];
  };
  const backends = new Set<string>();
  for (const e of history.events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType.name !== 'evaluateSubnet') continue;
    const req = JSON.parse(Buffer.from(scheduled.input.payloads[0]!.data, 'base64').toString('utf8')) as {
      backend?: string;
    };
    backends.add(req.backend ?? 'onnx');
  }
  return backends;
}

/**
 * Determinism guard: recorded histories of real campaign and search runs must replay against
 * the current workflow code. A change that breaks them needs patched() (see README). Recorded
 * from the campaign test's runs with SIGKILLed workers, one set per scoring backend (the torch
 * one's files prefixed torch-). Re-record with
 * LLAMA_NAS_RECORD_HISTORIES=1 npx jest test/integration/campaign.test.ts --selectProjects integration -t 'scored by torch (completes|survives SIGKILLed workers)'
 * (onnx: 'scored by onnx ...').
 */
describe('replay of recorded workflow histories', () => {
  // file -> the workflow id it was recorded under (child workflow ids derive from it)
  const ids = JSON.parse(readFileSync(join(DIR, 'index.json'), 'utf8')) as Record<string, string>;
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'index.json');

  it('has recorded histories to replay, each in the index', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(Object.keys(ids).sort()).toEqual([...files].sort());
  });

  it('has a campaign and its search on each scoring backend among them', () => {
    for (const backend of ['onnx', 'torch']) {
      const recorded = files.filter((f) => evaluationBackends(f).has(backend)).map((f) => ids[f]!);
      expect(recorded.some((id) => !id.includes('/search/'))).toBe(true);
      expect(recorded.some((id) => id.includes('/search/'))).toBe(true);
    }
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
    expect(ids[file]).toBeDefined();
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, ids[file]);
  });
});
