import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseCampaignConfig } from '../../../config/campaign';
import { instatuneConfig } from '../../../src/campaign/prepare';
import type { PreparedCampaign } from '../../../activities/types';
import { loadCampaignFile } from '../../../config/load';
import { createSpace, fullNetwork } from '../../../src/search/space';
import { injectedFailure } from '../../../activities/failures';

describe('campaign config', () => {
  it('fills the paper defaults', () => {
    const config = parseCampaignConfig({ name: 'x', baseModel: 'embedded', tasks: [{ name: 'mmlu' }] });
    expect(config.linas).toEqual({ population: 50, evaluations: 250, predictorEvaluations: 20_000, seed: 0 });
    expect(config.objectives).toEqual(['size', 'accuracy']);
    expect(config.quantization).toEqual(['int8']);
    expect(config.queues.train).toBe('llama-nas-train');
  });

  it('names the bad field', () => {
    expect(() =>
      parseCampaignConfig({ name: 'x', baseModel: 'embedded', tasks: [{ name: 'mmlu', shots: -1 }] }),
    ).toThrow(/field tasks\.0\.shots/);
    expect(() =>
      parseCampaignConfig({ name: 'x', baseModel: 'embedded', tasks: [{ name: 'gsm8k' }] }),
    ).toThrow(/field tasks\.0\.name/);
    expect(() => parseCampaignConfig({ name: 'x', baseModel: 'embedded', tasks: [], extra: 1 })).toThrow(
      /field tasks/,
    );
    expect(() => parseCampaignConfig({ name: 'x', baseModel: '/m', tasks: [{ name: 'mmlu' }] })).toThrow(
      /field tasks\.0\.data: a data file is required/,
    );
    expect(() =>
      parseCampaignConfig({
        name: 'x',
        baseModel: 'embedded',
        tasks: [{ name: 'mmlu' }],
        linas: { population: 50, evaluations: 10 },
      }),
    ).toThrow(/field linas\.evaluations/);
  });

  it('resolves paths against the config file and reads YAML', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(
      file,
      'name: y\nbaseModel: models/base\ntasks:\n  - name: arc_easy\n    data: data/arc.jsonl\n',
    );
    const config = loadCampaignFile(file);
    expect(config.baseModel).toBe(join(dir, 'models/base'));
    expect(config.tasks[0].data).toBe(join(dir, 'data/arc.jsonl'));
  });

  it('names the file when it is not valid JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ "name": ');
    expect(() => loadCampaignFile(file)).toThrow(new RegExp(`${file}: not valid JSON`));
  });

  it('the example campaign files are valid', () => {
    for (const f of ['demo.json', 'llama2-7b.example.json']) {
      expect(() => loadCampaignFile(join(__dirname, '../../../config', f))).not.toThrow();
    }
  });
});

describe('fault injection', () => {
  it('fails about the configured fraction of attempts, the same ones every time', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `wf/${i}/1`);
    const failed = ids.filter((id) => injectedFailure({ failureRate: 0.2, seed: 7 }, id));
    expect(failed.length / ids.length).toBeGreaterThan(0.15);
    expect(failed.length / ids.length).toBeLessThan(0.25);
    expect(ids.filter((id) => injectedFailure({ failureRate: 0.2, seed: 7 }, id))).toEqual(failed);
    expect(injectedFailure(undefined, 'x')).toBeUndefined();
    expect(injectedFailure({ failureRate: 0.2, seed: 7 }, failed[0])?.type).toBe('DeviceFailure');
    // successive attempts of one activity are independent draws: few fail three times in a row
    const streaks = Array.from({ length: 1000 }, (_, i) =>
      [1, 2, 3].every((a) => injectedFailure({ failureRate: 0.2, seed: 7 }, `wf/${i}/${a}`)),
    );
    expect(streaks.filter(Boolean).length).toBeLessThan(30);
  });
});

describe('InstaTune settings of a campaign', () => {
  const example = loadCampaignFile(join(__dirname, '../../../config/llama2-7b.example.json'));
  const prepared = (trainer: Record<string, unknown>): PreparedCampaign => ({
    config: { ...example, finetune: { ...example.finetune, trainer } },
    campaignDir: '/c',
    baseModelDir: '/models/base',
    instructionData: '/data/alpaca.json',
    tasks: [],
    space: createSpace(example.searchSpace!),
    fullNetwork: fullNetwork(createSpace(example.searchSpace!)),
    trainerDefaults: {},
    cacheDir: '/cache',
    baseModelName: 'base',
  });

  it('are checked against the trainer schema before anything runs, naming the field', () => {
    const config = instatuneConfig(prepared(example.finetune.trainer));
    expect(config).toMatchObject({
      lr: 1e-5,
      search_space: { layers: [24, 28, 32], intermediate: [5504, 11008] },
    });
    expect(() => instatuneConfig(prepared({ dtype: 'bf16' }))).toThrow(/finetune\.trainer.*dtype/);
    expect(() => instatuneConfig(prepared({ learning_rate: 1 }))).toThrow(ConfigError);
  });
});
