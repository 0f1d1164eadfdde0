import type { Command } from 'commander';
import { isPortOpen, startDevServer } from '../../src/devserver';
import { requireTemporalCli, stateDir } from '../../src/toolchain';

export function register(program: Command): void {
  program
    .command('server')
    .description(
      'start the embedded Temporal dev server (SQLite state under LLAMA_NAS_HOME, default ./.llama-nas)',
    )
    .option('--port <port>', 'gRPC port', '7233')
    .option('--ui-port <port>', 'Web UI port', '8233')
    .option('--ip <address>', 'address to bind', '127.0.0.1')
    .action(async (opts: { port: string; uiPort: string; ip: string }) => {
      const port = Number(opts.port);
      const uiPort = Number(opts.uiPort);
      if (await isPortOpen(port, opts.ip)) {
        throw new Error(`port ${port} is already in use: a Temporal server may be running already`);
      }
      const dir = stateDir();
      const cli = requireTemporalCli();
      console.error(
        `llama-nas: Temporal dev server on ${opts.ip}:${port}, Web UI http://${opts.ip}:${uiPort}, state ${dir}/temporal.db`,
      );
      const child = startDevServer({ cli, stateDir: dir, port, uiPort, ip: opts.ip, inheritOutput: true });
      const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
      process.on('SIGINT', forward('SIGINT'));
      process.on('SIGTERM', forward('SIGTERM'));
      const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 0)));
      process.exitCode = code;
    });
}
