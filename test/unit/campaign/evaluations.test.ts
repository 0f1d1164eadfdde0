/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { join } from 'node:path';
import { parseCampaignConfig } from '../../../config/campaign';
import { campaignEvaluations, evaluateRequest } from '../../../src/campaign/evaluations';
import { readComputed } from '../../../src/campaign/layout';
import type { EvaluationRequest, PreparedCampaign } from '../../../src/campaign/types';
import { createSpace, fullNetwork } from '../../../src/search/space';
import { tinyModelFolder } from '../../helpers/tiny-model';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');

describe("a campaign's evaluations (src/campaign/evaluations.ts over the campaign folder)", () => {
  const tiny = tinyModelFolder('campaign-evals-', { vocabSize: 300, numLayers: 2 }, 7);

  it('computes once, caches, and keeps every result where the report reads it back', async () => {
    const space = createSpace({ layerCounts: [1, 2], widths: [24, 48] });
    const task = { name: 'winogrande' as const, dataPath: join(FIX, 'winogrande') };
    const campaign = {
      config: parseCampaignConfig({
        name: 't',
        baseModel: tiny.model,
        tasks: [{ name: 'winogrande', data: '-' }],
      }),
      campaignDir: join(tiny.dir, 'campaign'),
      tasks: [task],
      space,
      fullNetwork: fullNetwork(space),
      cacheDir: join(tiny.dir, 'cache'),
    } as PreparedCampaign;
    const request = (subnet: EvaluationRequest['subnet'], campaignDir = campaign.campaignDir) => ({
      campaignDir,
      cacheDir: campaign.cacheDir,
      modelDir: tiny.model,
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
    const elsewhere = await evaluateRequest(
      request({ layers: 1, intermediate: [24] }, join(tiny.dir, 'other')),
    );
    expect(again).toEqual({ ...small, cached: true });
    expect(elsewhere).toEqual({ ...small, cached: true });
    expect(readComputed(campaign.campaignDir).map((c) => c.key)).toEqual(['1:24x1', '2:48x2']);
    expect(readComputed(join(tiny.dir, 'other'))).toEqual([]);

    const kept = await campaignEvaluations(campaign, tiny.model);
    expect(kept.map((e) => e.key).sort()).toEqual(['1:24x1', '2:48x2']);
    expect(kept.find((e) => e.key === '2:48x2')).toEqual(full);
  });
});
