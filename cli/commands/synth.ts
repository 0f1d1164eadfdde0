import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors';
import { DEFAULT_WORLD_SEED } from '../../src/world/embedded';
import { TASK_PATHS, generateWorld } from '../../src/world/generate';
import { FULL_SCALE, REDUCED_SCALE } from '../../src/world/world';

/** `llama-nas synth --out DIR [--seed S]`: the embedded world's data, deterministically from the seed. */
export function register(program: Command): void {
  program
    .command('synth')
    .description(
      'generate the synthetic world: corpus, Alpaca instructions, five benchmarks in their original formats, tokenizer',
    )
    .requiredOption('--out <dir>', 'folder to write (created if missing)')
    .option('--seed <n>', 'world seed (an integer)', String(DEFAULT_WORLD_SEED))
    .option('--reduced', 'a small world (what the tests train on)', false)
    .action((opts: { out: string; seed: string; reduced: boolean }) => {
      if (!/^\d+$/.test(opts.seed) || Number(opts.seed) > 0x7fffffff) {
        throw new UsageError(`--seed must be an integer in 0..2147483647, got "${opts.seed}"`);
      }
      const out = resolve(opts.out);
      const t0 = performance.now();
      const m = generateWorld(out, {
        seed: Number(opts.seed),
        scale: opts.reduced ? REDUCED_SCALE : FULL_SCALE,
      });
      const s = m.stats;
      console.log(
        `world seed ${m.seed} written to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      console.log(
        `  ${s.people} people, ${s.cities} cities, ${s.countries} countries, ${s.myths} planted falsehoods; ` +
          `corpus ${s.corpusDocuments} documents / ${s.corpusTokens} tokens; ${s.instructions} instructions; vocabulary ${s.vocabulary}`,
      );
      for (const [task, path] of Object.entries(TASK_PATHS)) console.log(`  ${task}: ${resolve(out, path)}`);
    });
}
