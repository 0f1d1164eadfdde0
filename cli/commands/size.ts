import type { Command } from 'commander';
import { openCheckpoint } from '../../src/model/checkpoint';
import type { LlamaConfig } from '../../src/model/config';
import { QUANT_MODES, parseQuantMode } from '../../src/model/quantize';
import {
  PRESETS,
  SIZE_DTYPES,
  type SizeDtype,
  modelSize,
  presetConfig,
  quantizedModelSize,
} from '../../src/model/size';
import { canonicalSubnet, fullSubnet, readSubnetArg } from '../../src/model/subnet';
import { UsageError } from '../errors';

interface SizeOptions {
  base?: string;
  model?: string;
  subnet?: string;
  dtype: string;
  linearDtype?: string;
  quant?: string;
  blockSize?: string;
  json: boolean;
}

function asDtype(value: string, flag: string): SizeDtype {
  if (!(SIZE_DTYPES as readonly string[]).includes(value)) {
    throw new UsageError(`${flag} ${value}: expected one of ${SIZE_DTYPES.join(', ')}`);
  }
  return value as SizeDtype;
}

/** `llama-nas size`: analytic parameters and bytes of a sub-network of a preset or a checkpoint. */
export function register(program: Command): void {
  program
    .command('size')
    .description('parameters and bytes of a sub-network (analytic)')
    .option('--base <preset>', `a preset architecture (${Object.keys(PRESETS).join(', ')})`)
    .option('--model <dir>', 'a Hugging Face LLaMA folder (its config.json)')
    .option('--subnet <spec>', 'sub-network as JSON text or @FILE (default: the full network)')
    .option('--dtype <dtype>', `storage type (${SIZE_DTYPES.join(', ')})`, 'f16')
    .option('--linear-dtype <dtype>', "storage type of the decoder layers' linear weights (default: --dtype)")
    .option(
      '--quant <mode>',
      `weight quantization of the decoder linear layers (${QUANT_MODES.join(', ')}): their codes plus the kernel's float32 scales, the rest in --dtype`,
    )
    .option('--block-size <n>', 'block size of block-wise quantization (int4 default 32, int8 128)')
    .option('--json', 'print {"parameters","bytes","gib"} as JSON', false)
    .action(async (opts: SizeOptions) => {
      if (!!opts.base === !!opts.model)
        throw new UsageError('give exactly one of --base PRESET and --model DIR');
      let config: LlamaConfig;
      if (opts.base) {
        if (!PRESETS[opts.base]) {
          throw new UsageError(
            `--base ${opts.base}: unknown preset; presets: ${Object.keys(PRESETS).join(', ')}`,
          );
        }
        config = presetConfig(opts.base);
      } else {
        try {
          config = (await openCheckpoint(opts.model!)).config;
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
      }
      const dtype = asDtype(opts.dtype, '--dtype');
      const linear = opts.linearDtype ? asDtype(opts.linearDtype, '--linear-dtype') : dtype;
      let spec = fullSubnet(config);
      if (opts.subnet) {
        try {
          const { json, source } = readSubnetArg(opts.subnet);
          spec = canonicalSubnet(json, config, source);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
      }
      if (opts.quant !== undefined) {
        if (opts.linearDtype) throw new UsageError('give either --quant or --linear-dtype, not both');
        let quant;
        let blockSize: number | undefined;
        try {
          quant = parseQuantMode(opts.quant);
          if (opts.blockSize !== undefined) {
            if (!/^\d+$/.test(opts.blockSize))
              throw new Error(`--block-size ${opts.blockSize}: expected an integer`);
            blockSize = Number(opts.blockSize);
          }
          const q = quantizedModelSize(
            config,
            spec,
            dtype,
            quant,
            blockSize !== undefined ? { blockSize } : {},
          );
          const result = { ...q, gib: Math.round(q.gib * 100) / 100 };
          if (opts.json) console.log(JSON.stringify(result));
          else {
            console.log(
              `${spec.layers} layers, ${result.parameters.toLocaleString('en-US')} parameters, ` +
                `${result.bytes.toLocaleString('en-US')} bytes (${result.gib.toFixed(2)} GiB): ` +
                (q.kernel
                  ? `decoder linear weights ${quant} (${q.kernel}, ${q.scaleBytes.toLocaleString('en-US')} bytes of scales), the rest in ${dtype}`
                  : `all in ${dtype}`),
            );
          }
        } catch (err) {
          throw new UsageError(`--quant: ${(err as Error).message}`);
        }
        return;
      }
      const size = modelSize(config, spec, dtype, linear);
      const result = {
        parameters: size.parameters,
        bytes: size.bytes,
        gib: Math.round(size.gib * 100) / 100,
      };
      if (opts.json) console.log(JSON.stringify(result));
      else {
        console.log(
          `${spec.layers} layers, ${result.parameters.toLocaleString('en-US')} parameters, ` +
            `${result.bytes.toLocaleString('en-US')} bytes (${result.gib.toFixed(2)} GiB) in ${dtype}` +
            (linear !== dtype ? ` with ${linear} decoder linear weights` : ''),
        );
      }
    });
}
