import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface DevServerOptions {
  /** Path of the Temporal CLI binary. */
  cli: string;
  /** Folder that holds the SQLite file (`temporal.db`); workflows survive restarts. */
  stateDir: string;
  port?: number;
  uiPort?: number;
  /** Bind address; loopback by default. */
  ip?: string;
  namespace?: string;
  /** Whether to print the server's own output. */
  inheritOutput?: boolean;
}

/** Search attributes our campaign and search workflows set, registered when the dev server starts. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Text' | 'Int'> = {
  CampaignName: 'Keyword',
  BaseModel: 'Keyword',
  NasTask: 'Keyword',
};

export function devServerArgs(opts: DevServerOptions): string[] {
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    join(opts.stateDir, 'temporal.db'),
    '--port',
    String(opts.port ?? 7233),
    '--ui-port',
    String(opts.uiPort ?? 8233),
    '--ip',
    opts.ip ?? '127.0.0.1',
    '--namespace',
    opts.namespace ?? 'default',
    '--log-level',
    'warn',
  ];
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
    args.push('--search-attribute', `${name}=${type}`);
  return args;
}

export function startDevServer(opts: DevServerOptions): ChildProcess {
  mkdirSync(opts.stateDir, { recursive: true });
  return spawn(opts.cli, devServerArgs(opts), {
    stdio: opts.inheritOutput ? 'inherit' : 'ignore',
    detached: false,
  });
}

export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isPortOpen(port, host)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Temporal server did not open ${host}:${port} within ${Math.round(timeoutMs / 1000)} s`);
}
