import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ModelFormatError } from '../../src/model/config';
import { importGguf } from '../../src/model/gguf-convert';
import { UsageError } from '../errors';

interface ImportOptions {
  gguf: string;
  out: string;
  dtype: string;
  json: boolean;
}

/** `llama-nas import --gguf FILE --out DIR`: a llama.cpp model as a Hugging Face LLaMA folder. */
export function register(program: Command): void {
  program
    .command('import')
    .description(
      'import a GGUF (llama or deci architecture) as a Hugging Face LLaMA folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)',
    )
    .requiredOption(
      '--gguf <file>',
      'GGUF file (v2/v3; F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K tensors)',
    )
    .requiredOption('--out <dir>', 'output folder')
    .option('--dtype <dtype>', 'weights written as float32 or bfloat16', 'float32')
    .option('--json', 'print the result as JSON', false)
    .action((opts: ImportOptions) => {
      const dtype = { float32: 'F32', bfloat16: 'BF16' }[opts.dtype] as 'F32' | 'BF16' | undefined;
      if (!dtype) throw new UsageError(`--dtype ${opts.dtype}: expected float32 or bfloat16`);
      try {
        const r = importGguf(resolve(opts.gguf), resolve(opts.out), { dtype });
        if (opts.json) console.log(JSON.stringify(r));
        else {
          const types = Object.entries(r.tensorTypes)
            .map(([t, n]) => `${n} ${t}`)
            .join(', ');
          console.log(
            `imported ${r.architecture} model (${r.config.numLayers} layers, hidden ${r.config.hiddenSize}, ` +
              `${r.config.numHeads}/${r.config.numKvHeads} heads, vocab ${r.config.vocabSize}, ${r.tokenizer} tokenizer; ` +
              `tensors ${types}) to ${r.dir}`,
          );
        }
      } catch (err) {
        if (err instanceof ModelFormatError) throw new UsageError(err.message);
        throw err;
      }
    });
}
