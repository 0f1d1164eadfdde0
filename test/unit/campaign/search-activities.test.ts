import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { searchPropose, searchRecord } from '../../../activities/search';
import type { EvaluationResult, PreparedCampaign, ProposeRequest } from '../../../activities/types';
import { parseCampaignConfig } from '../../../config/campaign';
import { createSpace } from '../../../src/search/space';
import { tinyConfig, writeRandomCheckpoint } from '../../fixtures/model/random-checkpoint';

const model = mkdtempSync(join(tmpdir(), 'search-model-'));
writeRandomCheckpoint(model, tinyConfig({ numLayers: 8, intermediateSize: 128 }), 1);
const task = { name: 'arc_easy' as const, dataPath: '/data/arc' };

const space = createSpace({ layerCounts: [6, 7, 8], widths: [64, 128] });

function request(campaignDir: string, stateFile?: string): ProposeRequest {
  const campaign = {
    campaignDir,
    space,
    config: parseCampaignConfig({ name: 't', baseModel: 'embedded', tasks: [{ name: 'arc_easy' }] }),
  } as PreparedCampaign;
  return {
    stateFile,
    task: 'arc_easy',
    campaign,
    evaluation: task,
    modelDir: model,
    space,
    linas: { population: 8, evaluations: 16, predictorEvaluations: 400, seed: 3 },
    objectives: ['size', 'accuracy'],
    budget: 16,
  };
}

/** A made-up but deterministic measurement: accuracy grows with depth and width. */
function measure(key: string, subnet: { layers: number; intermediate: number[] }): EvaluationResult {
  const params = subnet.intermediate.reduce((a, k) => a + k, 0);
  return {
    key,
    task: 'arc_easy',
    quant: 'none',
    subnet,
    accuracy: Math.min(1, 0.3 + subnet.layers / 40 + params / 20_000),
    accuracyStderr: 0.01,
    nSamples: 100,
    parameters: params * 1000,
    sizeBytes: params * 2000,
    cached: false,
  };
}

describe('search activities (LINAS steps over state files)', () => {
  it('a retried step finds what the first attempt wrote, and the loop ends at the budget', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'search-'));
    const first = await searchPropose(request(dir));
    const retried = await searchPropose(request(dir));
    expect(retried).toEqual(first);
    expect(first.candidates).toHaveLength(8);
    expect(new Set(first.candidates.map((c) => c.key)).size).toBe(8);

    const results = first.candidates.map((c) => measure(c.key, c.subnet));
    const recorded = await searchRecord({
      stateFile: first.stateFile,
      results,
      objectives: ['size', 'accuracy'],
    });
    const again = await searchRecord({
      stateFile: first.stateFile,
      results,
      objectives: ['size', 'accuracy'],
    });
    expect(again).toEqual(recorded);
    expect(recorded.evaluated).toBe(8);

    const second = await searchPropose(request(dir, recorded.stateFile));
    expect(second.loop).toBe(2);
    const seen = new Set(first.candidates.map((c) => c.key));
    expect(second.candidates.every((c) => !seen.has(c.key))).toBe(true);
    const final = await searchRecord({
      stateFile: second.stateFile,
      results: second.candidates.map((c) => measure(c.key, c.subnet)),
      objectives: ['size', 'accuracy'],
    });
    expect(final.evaluated).toBe(16);
    expect(final.done).toBe(true);
    expect(final.front.length).toBeGreaterThan(0);
    expect((await searchPropose(request(dir, final.stateFile))).done).toBe(true);
    expect(readdirSync(dirname(first.stateFile)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // the same campaign on another checkpoint is another search, in a folder of its own
    const other = mkdtempSync(join(tmpdir(), 'search-model-'));
    writeRandomCheckpoint(other, tinyConfig({ numLayers: 8, intermediateSize: 128 }), 2);
    const fresh = await searchPropose({ ...request(dir), modelDir: other });
    expect(dirname(fresh.stateFile)).not.toBe(dirname(first.stateFile));
    expect(fresh.loop).toBe(1);
  });
});
