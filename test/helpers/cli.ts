import { Command } from 'commander';

/** A command module's registration, as cli/main.ts calls it. */
export type Register = (program: Command) => void;

/**
 * A runner of the given commands in-process (wired as cli/main.ts wires them): each call parses
 * `prefix` then its arguments and returns what the commands printed with console.log. Errors
 * (UsageError, commander's exits) propagate to the test.
 */
export function cliRunner(
  registers: Register[],
  ...prefix: string[]
): (...args: string[]) => Promise<string> {
  return async (...args: string[]) => {
    const program = new Command('llama-nas').exitOverride();
    for (const register of registers) register(program);
    const lines: string[] = [];
    const spy = jest
      .spyOn(console, 'log')
      .mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    try {
      await program.parseAsync(['node', 'llama-nas', ...prefix, ...args]);
    } finally {
      spy.mockRestore();
    }
    return lines.join('\n');
  };
}
