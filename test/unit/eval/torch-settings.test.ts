import { parseCampaignConfig } from '../../../config/campaign';
import { campaignBackend, setWorkerScoring } from '../../../src/campaign/evaluations';
import { parseScoringFlags } from '../../../src/eval/torch-backend';

describe('scoring backend settings', () => {
  const base = { name: 't', baseModel: '/m', tasks: [{ name: 'arc_easy', data: '/d' }] };

  it('campaign files choose the backend, device and dtype; onnx runs on cpu in float32', () => {
    expect(parseCampaignConfig(base).evaluation).toMatchObject({
      backend: 'onnx',
      device: 'cpu',
      dtype: 'float32',
    });
    expect(
      parseCampaignConfig({ ...base, evaluation: { backend: 'torch', device: 'cuda', dtype: 'bfloat16' } })
        .evaluation,
    ).toMatchObject({ backend: 'torch', device: 'cuda', dtype: 'bfloat16' });
    expect(() =>
      parseCampaignConfig({ ...base, evaluation: { backend: 'onnx', dtype: 'bfloat16' } }),
    ).toThrow(/onnx backend runs on cpu in float32/);
    expect(() => parseCampaignConfig({ ...base, evaluation: { backend: 'torch', device: 'gpu0' } })).toThrow(
      /expected cpu, cuda or cuda:N/,
    );
    expect(() => parseCampaignConfig({ ...base, evaluation: { backend: 'tensorrt' } })).toThrow(/backend/);
  });

  it('CLI flags are checked, with the dtype defaulting by device', () => {
    expect(parseScoringFlags({})).toEqual({ backend: 'onnx', device: 'cpu', dtype: 'float32' });
    expect(parseScoringFlags({ backend: 'torch', device: 'cuda:1' })).toEqual({
      backend: 'torch',
      device: 'cuda:1',
      dtype: 'bfloat16',
    });
    expect(parseScoringFlags({ backend: 'torch', dtype: 'f16' })).toMatch(/--dtype f16: expected one of/);
    expect(parseScoringFlags({ backend: 'onnx', device: 'cuda' })).toMatch(/apply to --backend torch/);
    expect(parseScoringFlags({ backend: 'jax' })).toMatch(/--backend jax/);
  });

  it('the numerics of a backend (part of every cache key) tell the backends and dtypes apart, not the GPU index', () => {
    const onnx = campaignBackend({ backend: 'onnx' }).numerics;
    const cuda0 = campaignBackend({ backend: 'torch', device: 'cuda:0', dtype: 'bfloat16' }).numerics;
    const cuda1 = campaignBackend({ backend: 'torch', device: 'cuda:1', dtype: 'bfloat16' }).numerics;
    const f16 = campaignBackend({ backend: 'torch', device: 'cuda:0', dtype: 'float16' }).numerics;
    expect(cuda0).toEqual({ backend: 'torch', device: 'cuda', dtype: 'bfloat16' });
    expect(cuda1).toEqual(cuda0);
    for (const other of [onnx, f16]) expect(other).not.toEqual(cuda0);
    // a worker's flags override the campaign's settings for what it runs
    setWorkerScoring({ backend: 'torch', device: 'cuda:3', dtype: 'bfloat16' });
    try {
      expect(campaignBackend({ backend: 'onnx' }).numerics).toEqual(cuda0);
    } finally {
      setWorkerScoring({});
    }
    expect(campaignBackend({ backend: 'onnx' }).numerics).toEqual(onnx);
  });
});
