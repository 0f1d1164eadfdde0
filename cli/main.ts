import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';

/**
 * Each file in cli/commands/ exports `register(program)` and adds its own sub-commands, so
 * the front stays thin and commands are added without touching this file.
 */
export function buildProgram(): Command {
  const program = new Command('llama-nas')
    .description('One-shot neural architecture search for LLaMA models, run as durable Temporal workflows')
    .showHelpAfterError()
    .exitOverride((err) => {
      throw Object.assign(new Error(err.message), { exitCode: err.exitCode === 0 ? 0 : 2, commander: true });
    });
  const dir = join(__dirname, 'commands');
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .sort()) {
    const mod = require(join(dir, file)) as { register?: (p: Command) => void };
    if (typeof mod.register !== 'function')
      throw new Error(`cli/commands/${file} does not export register(program)`);
    mod.register(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const e = err as { exitCode?: number; commander?: boolean };
    // commander has already printed its own message (help, version, unknown option)
    if (e.commander) process.exit(e.exitCode ?? 2);
    throw err;
  }
}
