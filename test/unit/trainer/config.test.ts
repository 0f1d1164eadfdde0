import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrainConfigError, absolutePaths, parseTrainConfig, readTrainConfig, trainerLaunch } from '../../../src/trainer/config';

const instatune = {
  mode: 'instatune',
  model: 'base',
  data: 'alpaca.json',
  search_space: { layers: [32, 24, 28, 28], intermediate: [11008, 5504] },
  epochs: 6,
  lr: 1e-5,
  batch_size: 4,
  grad_accum: 32,
};

describe('training config schema', () => {
  it('accepts the paper-style InstaTune config and normalises the search space', () => {
    const cfg = parseTrainConfig(instatune, 'cfg.json');
    expect(cfg.mode).toBe('instatune');
    expect(cfg.search_space).toEqual({ layers: [24, 28, 32], intermediate: [5504, 11008] });
  });

  it.each([
    [{ ...instatune, batch_size: 0 }, 'batch_size'],
    [{ ...instatune, lr: -1 }, 'lr'],
    [{ ...instatune, schedule: 'step' }, 'schedule'],
    [{ ...instatune, search_space: undefined }, 'search_space'],
    [{ ...instatune, search_space: { layers: [], intermediate: [1] } }, 'search_space.layers'],
    [{ ...instatune, model: undefined }, 'model'],
    [{ ...instatune, device: 'gpu' }, 'device'],
    [{ ...instatune, dtype: 'int8' }, 'dtype'],
    [{ ...instatune, bacth_size: 4 }, 'bacth_size'],
    [{ ...instatune, data: { path: 'x', format: 'csv' } }, 'data'],
    [{ ...instatune, strategy: 'zero3' }, 'strategy'],
    [{ ...instatune, nproc_per_node: 0 }, 'nproc_per_node'],
    [{ ...instatune, nnodes: 2 }, 'rdzv_endpoint'],
    [{ ...instatune, nnodes: 2, rdzv_endpoint: 'node0' }, 'rdzv_endpoint'],
    [{ ...instatune, nnodes: 2, rdzv_endpoint: 'node0:29500', node_rank: 2 }, 'node_rank'],
  ])('rejects %j naming %s', (raw, field) => {
    expect(() => parseTrainConfig(raw, 'cfg.json')).toThrow(TrainConfigError);
    expect(() => parseTrainConfig(raw, 'cfg.json')).toThrow(new RegExp(`cfg\\.json: .*${field.replace('.', '\\.')}`));
  });

  it('reads the launch of a job over several processes and machines', () => {
    expect(trainerLaunch(parseTrainConfig(instatune, 'cfg.json'))).toEqual({ nprocPerNode: 1, nnodes: 1 });
    const cfg = parseTrainConfig(
      { ...instatune, nproc_per_node: 8, nnodes: 2, rdzv_endpoint: 'node0.lan:29500', rdzv_id: 'tune-7b', strategy: 'fsdp' },
      'cfg.json',
    );
    expect(trainerLaunch(cfg)).toEqual({ nprocPerNode: 8, nnodes: 2, rdzvEndpoint: 'node0.lan:29500', rdzvId: 'tune-7b' });
  });

  it('needs a mode, and the command-line mode must agree with the file', () => {
    const { mode: _mode, ...noMode } = instatune;
    expect(() => parseTrainConfig(noMode, 'cfg.json')).toThrow(/mode: required/);
    expect(parseTrainConfig(noMode, 'cfg.json', 'instatune').mode).toBe('instatune');
    expect(() => parseTrainConfig(instatune, 'cfg.json', 'pretrain')).toThrow(/mode/);
  });

  it('pretraining from scratch takes an architecture instead of a model', () => {
    const cfg = parseTrainConfig(
      {
        mode: 'pretrain',
        architecture: { vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2 },
        tokenizer: 'tok',
        data: 'corpus.txt',
      },
      'p.json',
    );
    expect(cfg.architecture?.num_hidden_layers).toBe(2);
    expect(() => parseTrainConfig({ ...cfg, model: 'm' }, 'p.json')).toThrow(/architecture: give either model or architecture/);
  });

  it('reads a file, names it in errors, and resolves relative paths against its folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'train-config-'));
    writeFileSync(join(dir, 'bad.json'), '{"mode": "instatune",');
    expect(() => readTrainConfig(join(dir, 'bad.json'))).toThrow(/bad\.json: not valid JSON/);
    writeFileSync(join(dir, 'ok.json'), JSON.stringify(instatune));
    const cfg = absolutePaths(readTrainConfig(join(dir, 'ok.json')), dir);
    expect(cfg.model).toBe(join(dir, 'base'));
    expect(cfg.data).toBe(join(dir, 'alpaca.json'));
  });
});
