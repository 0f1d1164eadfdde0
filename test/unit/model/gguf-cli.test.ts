import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { register as registerExport } from '../../../cli/commands/export';
import { register as registerImport } from '../../../cli/commands/import';
import { UsageError } from '../../../cli/errors';
import { openCheckpoint } from '../../../src/model/checkpoint';
import { readGguf } from '../../../src/model/gguf';
import { tinyConfig, writeRandomCheckpoint } from '../../fixtures/model/random-checkpoint';
import { cliRunner } from '../../helpers/cli';
import { tempDir } from '../../helpers/temp-dir';

/** Runs the commands in-process (as cli/main.ts wires them) and returns what they printed. */
const cli = cliRunner([registerExport, registerImport]);

describe('llama-nas export --format gguf and import --gguf', () => {
  const tmp = tempDir('gguf-cli-', (dir) =>
    writeRandomCheckpoint(join(dir, 'base'), tinyConfig({ intermediateSize: 64 }), 2, { tokenizer: true }),
  );

  it('exports a per-layer sub-network as deci Q8_0 and imports it back', async () => {
    const info = JSON.parse(
      await cli(
        'export',
        '--model',
        join(tmp.path, 'base'),
        '--subnet',
        '{"layers":2,"intermediate":[64,32]}',
        '--format',
        'gguf',
        '--gguf-type',
        'Q8_0',
        '--out',
        join(tmp.path, 'out'),
        '--json',
      ),
    ) as { file: string; architecture: string; type: string };
    expect(info).toMatchObject({
      file: join(tmp.path, 'out', 'model.gguf'),
      architecture: 'deci',
      type: 'Q8_0',
    });
    expect(readGguf(info.file).metadata.get('deci.feed_forward_length')!.value).toEqual([64, 32]);
    const text = await cli('import', '--gguf', info.file, '--out', join(tmp.path, 'imported'));
    expect(text).toMatch(/imported deci model \(2 layers, hidden 32, 4\/2 heads, vocab 64/);
    expect((await openCheckpoint(join(tmp.path, 'imported'))).config.intermediateSize).toBe(64);
  });

  it('refuses bad flags and files with a usage error naming them', async () => {
    const exportBase = (...flags: string[]): Promise<string> =>
      cli('export', '--model', join(tmp.path, 'base'), ...flags, '--out', join(tmp.path, 'x'));
    await expect(exportBase('--format', 'gguf', '--gguf-type', 'Q4_0')).rejects.toThrow(
      new UsageError('--gguf-type Q4_0: expected one of F32, F16, Q8_0'),
    );
    await expect(exportBase('--format', 'safetensors')).rejects.toThrow(UsageError);
    writeFileSync(join(tmp.path, 'not.gguf'), 'hello, this is not a model file at all');
    await expect(
      cli('import', '--gguf', join(tmp.path, 'not.gguf'), '--out', join(tmp.path, 'y')),
    ).rejects.toThrow(/not\.gguf: not a GGUF file/);
    await expect(
      cli(
        'import',
        '--gguf',
        join(tmp.path, 'base', 'config.json'),
        '--out',
        join(tmp.path, 'y'),
        '--dtype',
        'int8',
      ),
    ).rejects.toThrow(new UsageError('--dtype int8: expected float32 or bfloat16'));
  });
});
