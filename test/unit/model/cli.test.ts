import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register as registerExport } from '../../../cli/commands/export';
import { register as registerSize } from '../../../cli/commands/size';
import { UsageError } from '../../../cli/errors';
import { countParameters } from '../../../src/model/size';
import { tinyConfig, writeRandomCheckpoint } from '../../fixtures/model/random-checkpoint';
import { cliRunner } from '../../helpers/cli';

/** Runs the commands in-process (as cli/main.ts wires them) and returns what they printed. */
const cli = cliRunner([registerSize, registerExport]);

describe('llama-nas size and export', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('size --base llama2-7b reports the paper figures as JSON', async () => {
    expect(JSON.parse(await cli('size', '--base', 'llama2-7b', '--json'))).toEqual({
      parameters: 6738415616,
      bytes: 13476831232,
      gib: 12.55,
    });
    const spec = join(dir, 'spec.json');
    writeFileSync(
      spec,
      JSON.stringify({ layers: 24, intermediate: [...Array(16).fill(11008), ...Array(16).fill(5504)] }),
    );
    const out = await cli('size', '--base', 'llama2-7b', '--subnet', `@${spec}`, '--dtype', 'f16', '--json');
    expect(JSON.parse(out)).toEqual({ parameters: 4578283520, bytes: 9156567040, gib: 8.53 });
  });

  it('size rejects bad specs and flags as usage errors', async () => {
    const bad = cli('size', '--base', 'llama2-7b', '--subnet', '{"layers": 24, "intermediate": [11008]}');
    await expect(bad).rejects.toThrow(UsageError);
    await expect(bad).rejects.toThrow(
      /intermediate has 1 entries; expected 24 \(one per active layer\) or 32/,
    );
    await expect(cli('size', '--base', 'llama9')).rejects.toThrow(/unknown preset; presets: llama2-7b/);
    await expect(cli('size', '--base', 'llama2-7b', '--dtype', 'f8')).rejects.toThrow(
      /--dtype f8: expected one of/,
    );
  });

  it('export writes a loadable folder and rejects a bad folder naming the file', async () => {
    const model = join(dir, 'model');
    writeRandomCheckpoint(model, tinyConfig(), 3);
    const out = join(dir, 'out');
    const info = JSON.parse(
      await cli(
        'export',
        '--model',
        model,
        '--subnet',
        '{"layers":1,"intermediate":[8]}',
        '--out',
        out,
        '--json',
      ),
    );
    expect(info.subnet).toEqual({ layers: 1, intermediate: [8] });
    expect(JSON.parse(readFileSync(join(out, 'subnet.json'), 'utf8')).hash).toBe(info.hash);
    expect(existsSync(join(out, 'model.onnx'))).toBe(true);
    const sized = JSON.parse(
      await cli(
        'size',
        '--model',
        model,
        '--subnet',
        '{"layers":1,"intermediate":[8,1,1]}',
        '--dtype',
        'f32',
        '--json',
      ),
    );
    expect(sized.parameters).toBe(info.measured.parameters);
    expect(sized.bytes).toBe(info.measured.bytes);
    const quantized = JSON.parse(
      await cli('export', '--model', model, '--out', join(dir, 'q'), '--quant', 'int4', '--json'),
    );
    expect(quantized.quant).toBe('int4');
    expect(quantized.measured.parameters).toBe(countParameters(tinyConfig()).total);
    await expect(cli('export', '--model', model, '--out', join(dir, 'q2'), '--quant', 'fp8')).rejects.toThrow(
      /--quant fp8: expected one of none, int8, int4/,
    );
    rmSync(join(model, 'model.safetensors'));
    const bad = cli('export', '--model', model, '--out', join(dir, 'out2'));
    await expect(bad).rejects.toThrow(UsageError);
    await expect(bad).rejects.toThrow(/no model\.safetensors and no model\.safetensors\.index\.json/);
  });
});
