/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { join } from 'node:path';
import { evaluateRequest, evaluationContext, throughputContext } from '../../../src/campaign/evaluations';
import { readComputed } from '../../../src/campaign/layout';
import type { EvaluationRequest } from '../../../src/campaign/types';
import { openCheckpoint } from '../../../src/model/checkpoint';
import { onnxBackend } from '../../../src/eval/backend';
import { EvaluationCache } from '../../../src/search';
import { tinyModelFolder } from '../../helpers/tiny-model';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');

describe('the evaluation cache key of a throughput figure', () => {
  const tiny = tinyModelFolder('throughput-key-', { vocabSize: 300, numLayers: 2 }, 3);
  const task = { name: 'winogrande' as const, dataPath: join(FIX, 'winogrande') };

  it('holds the backend, dtype, device and threads; the accuracy key holds backend and dtype only', () => {
    const onnx = onnxBackend({ threads: 1 });
    expect(onnx.numerics).toEqual({ backend: 'onnx', dtype: 'float32' });
    expect(onnx.runsOn).toEqual({ device: expect.stringMatching(/^cpu /), threads: '1' });
    const context = evaluationContext('ckpt', task, {
      bos: false,
      sizeDtype: 'f16',
      quant: 'none',
      numerics: onnx.numerics,
    });
    const one = throughputContext(context, onnx);
    expect(one.settings).toMatchObject({
      numerics: { backend: 'onnx', dtype: 'float32' },
      runsOn: onnx.runsOn,
    });
    expect(throughputContext(context, onnxBackend({ threads: 2 }))).not.toEqual(one);
    expect(
      throughputContext(context, { runsOn: { ...onnx.runsOn, device: 'cuda NVIDIA H200' } }),
    ).not.toEqual(one);
    expect(throughputContext(context, onnxBackend({ threads: 1 }))).toEqual(one);
  });

  it('measures the throughput again on other threads, never the accuracy', async () => {
    const request = (threads: number): EvaluationRequest => ({
      campaignDir: join(tiny.dir, 'campaign'),
      cacheDir: join(tiny.dir, 'cache'),
      modelDir: tiny.model,
      subnet: { layers: 1, intermediate: [48] },
      task,
      quant: 'none',
      bos: false,
      threads,
      sizeDtype: 'f16',
      measureThroughput: true,
    });
    const first = await evaluateRequest(request(1));
    expect(first.cached).toBe(false);
    expect(first.throughput).toBeGreaterThan(0);
    const again = await evaluateRequest(request(1));
    expect(again).toEqual({ ...first, cached: true });

    const onTwo = await evaluateRequest(request(2));
    expect(onTwo).toMatchObject({ cached: true, accuracy: first.accuracy, nSamples: first.nSamples });
    expect(onTwo.throughput).toBeGreaterThan(0);
    // one real evaluation in all; two throughput figures, one per thread count
    expect(readComputed(request(1).campaignDir)).toHaveLength(1);
    const cache = new EvaluationCache(request(1).cacheDir);
    const context = evaluationContext((await openCheckpoint(tiny.model)).identity, task, {
      bos: false,
      sizeDtype: 'f16',
      quant: 'none',
      numerics: onnxBackend().numerics,
    });
    expect(cache.get(context, first.key)?.values.throughput).toBeUndefined();
    expect(cache.get(throughputContext(context, onnxBackend({ threads: 1 })), first.key)?.values).toEqual({
      throughput: first.throughput,
    });
    expect(cache.get(throughputContext(context, onnxBackend({ threads: 2 })), first.key)?.values).toEqual({
      throughput: onTwo.throughput,
    });
  }, 120_000);
});
