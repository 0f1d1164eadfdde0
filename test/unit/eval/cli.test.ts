/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { register } from '../../../cli/commands/eval';
import { UsageError } from '../../../cli/errors';
import { cliRunner } from '../../helpers/cli';
import { tinyModelFolder } from '../../helpers/tiny-model';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');

/** Runs `llama-nas eval` in-process, as cli/main.ts wires it, and returns what it printed. */
const cli = cliRunner([register], 'eval');

describe('llama-nas eval', () => {
  const tiny = tinyModelFolder('eval-cli-', { vocabSize: 300, maxPositionEmbeddings: 128, numLayers: 2 }, 3);

  it('prints one JSON object with results, n_samples, settings, and writes per-item scores', async () => {
    const perItem = join(tiny.dir, 'items.jsonl');
    const out = join(tiny.dir, 'results.json');
    const args = [
      '--model',
      tiny.model,
      '--task',
      'winogrande',
      '--data',
      join(FIX, 'winogrande'),
      '--threads',
      '1',
    ];
    const report = JSON.parse(
      await cli(...args, '--shots', '1', '--json', '--per-item', perItem, '--out', out),
    );
    expect(report.results.winogrande.acc).toBeGreaterThanOrEqual(0);
    expect(typeof report.results.winogrande.acc_stderr).toBe('number');
    expect(report.results.winogrande.acc_norm).toBeUndefined();
    expect(report.n_samples.winogrande).toBe(3);
    expect(report.settings).toMatchObject({
      num_fewshot: 1,
      bos: false,
      max_length: 128,
      fewshot_seed: 1234,
    });
    expect(report.subnet).toMatchObject({ layers: 2, intermediate: [48, 48] });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(report);
    const items = readFileSync(perItem, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(items.map((i) => i.id)).toEqual(['wg-dev-1', 'wg-dev-2', 'wg-dev-3']);
    // the naive path gives the same predictions
    const naive = JSON.parse(await cli(...args, '--shots', '1', '--json', '--naive'));
    expect(naive.results.winogrande.acc).toBe(report.results.winogrande.acc);
    expect(naive.settings.scoring_path).toBe('naive');
  });

  it('prints a table without --json', async () => {
    const text = await cli(
      '--model',
      tiny.model,
      '--task',
      'arc_easy',
      '--data',
      join(FIX, 'arc'),
      '--limit',
      '2',
      '--threads',
      '1',
    );
    expect(text).toMatch(
      /^arc_easy\s+0-shot\s+n=2\s+acc \d\.\d{4} ± \d\.\d{4}\s+acc_norm \d\.\d{4} ± \d\.\d{4}/,
    );
  });

  it('turns user mistakes into usage errors', async () => {
    const base = ['--model', tiny.model, '--data', join(FIX, 'arc')];
    await expect(cli(...base, '--task', 'hellaswag')).rejects.toThrow(UsageError);
    await expect(cli(...base, '--task', 'arc_easy', '--seed', '3')).rejects.toThrow(
      /--seed goes with --fraction/,
    );
    await expect(cli(...base, '--task', 'arc_easy', '--fraction', '2')).rejects.toThrow(/--fraction 2/);
    await expect(cli(...base, '--task', 'arc_easy', '--path', 'quick')).rejects.toThrow(
      /--path quick: expected one of shared, fast, naive/,
    );
    await expect(cli(...base, '--task', 'truthfulqa_mc1', '--shots', '2')).rejects.toThrow(/zero-shot only/);
    const bad = join(FIX, 'bad', 'winogrande', 'dev.jsonl');
    await expect(cli('--model', tiny.model, '--task', 'winogrande', '--data', bad)).rejects.toThrow(
      `${bad}:2: sentence`,
    );
  });
});
