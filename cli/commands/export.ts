import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { type Checkpoint, openCheckpoint } from '../../src/model/checkpoint';
import { ModelFormatError } from '../../src/model/config';
import { exportSubnet } from '../../src/model/export';
import { GGUF_EXPORT_TYPES, type GgufExportType, exportGguf } from '../../src/model/gguf-convert';
import { QUANT_MODES, type QuantMode, linearQuant } from '../../src/model/quantize';
import { canonicalSubnet, fullSubnet, readSubnetArg, SubnetSpecError } from '../../src/model/subnet';
import type { SubnetSpec } from '../../src/model/types';
import { UsageError } from '../errors';

interface ExportOptions {
  model: string;
  subnet?: string;
  out: string;
  quant: string;
  blockSize?: string;
  json: boolean;
  format: string;
  ggufType: string;
}

/** `llama-nas export`: a sub-network of a checkpoint as a standalone ONNX folder. */
export function register(program: Command): void {
  program
    .command('export')
    .description('export a sub-network as an ONNX model (model.onnx, model.weights, subnet.json)')
    .requiredOption('--model <dir>', 'Hugging Face LLaMA folder')
    .option('--subnet <spec>', 'sub-network as JSON text or @FILE (default: the full network)')
    .requiredOption('--out <dir>', 'output folder')
    .option(
      '--quant <mode>',
      `decoder linear weights: ${QUANT_MODES.join(', ')} (int8, int4: weight-only; -dq, -a8: int8 activations too; see src/model/README.md)`,
      'none',
    )
    .option('--block-size <n>', 'block size of block-wise quantization (int4 default 32, int8 128)')
    .option('--json', 'print the description (subnet.json) as JSON', false)
    .option(
      '--format <format>',
      'onnx (a folder) or gguf (a file llama.cpp loads: OUT/model.gguf, or OUT if it ends in .gguf)',
      'onnx',
    )
    .option('--gguf-type <type>', `GGUF matrix storage: ${GGUF_EXPORT_TYPES.join(', ')}`, 'F16')
    .action(async (opts: ExportOptions) => {
      if (opts.format !== 'onnx' && opts.format !== 'gguf')
        throw new UsageError(`--format ${opts.format}: expected onnx or gguf`);
      if (opts.format === 'gguf') return exportGgufCommand(opts);
      if (!(QUANT_MODES as readonly string[]).includes(opts.quant)) {
        throw new UsageError(`--quant ${opts.quant}: expected one of ${QUANT_MODES.join(', ')}`);
      }
      let quantOptions = {};
      if (opts.blockSize !== undefined) {
        if (!/^\d+$/.test(opts.blockSize))
          throw new UsageError(`--block-size ${opts.blockSize}: expected an integer`);
        quantOptions = { blockSize: Number(opts.blockSize) };
        try {
          linearQuant(opts.quant as QuantMode, quantOptions);
        } catch (err) {
          throw new UsageError(`--block-size: ${(err as Error).message}`);
        }
      }
      try {
        const { ckpt, spec } = await checkpointAndSubnet(opts);
        const info = await exportSubnet(ckpt, spec, resolve(opts.out), opts.quant as QuantMode, quantOptions);
        if (opts.json) console.log(JSON.stringify(info));
        else {
          console.log(
            `exported ${info.subnet.layers}-layer sub-network ${info.hash} to ${resolve(opts.out)}: ` +
              `${info.measured.parameters.toLocaleString('en-US')} parameters, ` +
              `${info.measured.weightsFileBytes.toLocaleString('en-US')} bytes of weights` +
              (info.quant === 'none'
                ? ' (float32)'
                : ` (${info.quant} decoder linear layers, ${info.quantKernel})`),
          );
        }
      } catch (err) {
        throw asUsageError(err);
      }
    });
}

async function exportGgufCommand(opts: ExportOptions): Promise<void> {
  if (!(GGUF_EXPORT_TYPES as readonly string[]).includes(opts.ggufType))
    throw new UsageError(`--gguf-type ${opts.ggufType}: expected one of ${GGUF_EXPORT_TYPES.join(', ')}`);
  if (opts.quant !== 'none')
    throw new UsageError('--quant applies to --format onnx; for gguf use --gguf-type');
  const out = resolve(opts.out);
  const file = out.endsWith('.gguf') ? out : join(out, 'model.gguf');
  try {
    const { ckpt, spec } = await checkpointAndSubnet(opts);
    mkdirSync(dirname(file), { recursive: true });
    const info = await exportGguf(ckpt, spec, file, opts.ggufType as GgufExportType);
    if (opts.json) console.log(JSON.stringify(info));
    else
      console.log(
        `exported ${info.subnet.layers}-layer sub-network to ${file} (${info.architecture} architecture, ${info.type}): ` +
          `${info.parameters.toLocaleString('en-US')} parameters, ${info.bytes.toLocaleString('en-US')} bytes`,
      );
  } catch (err) {
    throw asUsageError(err);
  }
}

/** The checkpoint of --model and the sub-network of --subnet (the full network without it). */
async function checkpointAndSubnet(
  opts: Pick<ExportOptions, 'model' | 'subnet'>,
): Promise<{ ckpt: Checkpoint; spec: SubnetSpec }> {
  const ckpt = await openCheckpoint(resolve(opts.model));
  if (!opts.subnet) return { ckpt, spec: fullSubnet(ckpt.config) };
  const { json, source } = readSubnetArg(opts.subnet);
  return { ckpt, spec: canonicalSubnet(json, ckpt.config, source) };
}

/** A bad checkpoint or sub-network is the user's input: a UsageError; anything else as it is. */
function asUsageError(err: unknown): unknown {
  return err instanceof ModelFormatError || err instanceof SubnetSpecError
    ? new UsageError(err.message)
    : err;
}
