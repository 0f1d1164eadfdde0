import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors';

/**
 * `llama-nas bench [NAME...]` runs the benchmarks in bench/*.ts (each exports
 * `run(args: { json: boolean }): Promise<void>` and prints its own figures). Not tests: speed
 * goals are measured here, side by side in one run, never asserted on time.
 */
export function register(program: Command): void {
  program
    .command('bench')
    .description('run benchmarks (all, or the named ones from bench/)')
    .argument('[names...]', 'benchmark names (file names in bench/ without .ts)')
    .option('--json', 'machine-readable output where the benchmark supports it', false)
    .action(async (names: string[], opts: { json: boolean }) => {
      const dir = join(__dirname, '..', '..', 'bench');
      const available = readdirSync(dir)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => f.slice(0, -3))
        .sort();
      const chosen = names.length ? names : available;
      for (const name of chosen) {
        if (!available.includes(name))
          throw new UsageError(`unknown benchmark "${name}"; available: ${available.join(', ')}`);
      }
      for (const name of chosen) {
        if (!opts.json) console.log(`\n=== bench ${name} ===`);
        const mod = require(join(dir, `${name}.ts`)) as { run: (a: { json: boolean }) => Promise<void> };
        await mod.run({ json: opts.json });
      }
    });
}
