/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCampaignConfig } from '../../../config/campaign';
import { campaignEvaluations, evaluateRequest } from '../../../src/campaign/evaluations';
import { readComputed } from '../../../src/campaign/layout';
import type { EvaluationRequest, PreparedCampaign } from '../../../src/campaign/types';
import { createSpace, fullNetwork } from '../../../src/search/space';
import { tinyConfig, writeRandomCheckpoint } from '../../fixtures/model/random-checkpoint';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');

describe("a campaign's evaluations (src/campaign/evaluations.ts over the campaign folder)", () => {
  let dir: string;
  let model: string;
  const home = process.env.LLAMA_NAS_HOME;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'campaign-evals-'));
    model = join(dir, 'model');
    writeRandomCheckpoint(model, tinyConfig({ vocabSize: 300, numLayers: 2 }), 7, { tokenizer: true });
    process.env.LLAMA_NAS_HOME = join(dir, 'home');
  });
  afterAll(() => {
    process.env.LLAMA_NAS_HOME = home;
    rmSync(dir, { recursive: true, force: true });
  });

  it('computes once, caches, and keeps every result where the report reads it back', async () => {
    const space = createSpace({ layerCounts: [1, 2], widths: [24, 48] });
    const task = { name: 'winogrande' as const, dataPath: join(FIX, 'winogrande') };
    const campaign = {
      config: parseCampaignConfig({
        name: 't',
        baseModel: model,
        tasks: [{ name: 'winogrande', data: '-' }],
      }),
      campaignDir: join(dir, 'campaign'),
      tasks: [task],
      space,
      fullNetwork: fullNetwork(space),
      cacheDir: join(dir, 'cache'),
    } as PreparedCampaign;
    const request = (subnet: EvaluationRequest['subnet'], campaignDir = campaign.campaignDir) => ({
      campaignDir,
      cacheDir: campaign.cacheDir,
      modelDir: model,
      subnet,
      task,
      quant: 'none' as const,
      bos: false,
      threads: 1,
      sizeDtype: 'f16' as const,
      measureThroughput: false,
    });
    const progress: string[] = [];
    const small = await evaluateRequest(request({ layers: 1, intermediate: [24] }), {
      onProgress: (p) => void progress.push(p.stage),
    });
    const full = await evaluateRequest(request(campaign.fullNetwork));
    expect(small).toMatchObject({
      key: '1:24x1',
      task: 'winogrande',
      quant: 'none',
      nSamples: 3,
      cached: false,
    });
    expect(full.sizeBytes).toBeGreaterThan(small.sizeBytes);
    expect(progress).toContain('scoring');

    // answered by the cache, in this campaign and in another one: computed once in all
    const again = await evaluateRequest(request({ layers: 1, intermediate: [24] }));
    const elsewhere = await evaluateRequest(request({ layers: 1, intermediate: [24] }, join(dir, 'other')));
    expect(again).toEqual({ ...small, cached: true });
    expect(elsewhere).toEqual({ ...small, cached: true });
    expect(readComputed(campaign.campaignDir).map((c) => c.key)).toEqual(['1:24x1', '2:48x2']);
    expect(readComputed(join(dir, 'other'))).toEqual([]);

    const kept = await campaignEvaluations(campaign, model);
    expect(kept.map((e) => e.key).sort()).toEqual(['1:24x1', '2:48x2']);
    expect(kept.find((e) => e.key === '2:48x2')).toEqual(full);
  });
});
