import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

/** The project's state folder: the dev server's SQLite file, caches, campaign artifacts. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.LLAMA_NAS_HOME ?? join(process.cwd(), '.llama-nas'));
}

export class ToolchainError extends Error {
  override name = 'ToolchainError';
}

function onPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function goBinDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GOBIN) return env.GOBIN;
  const go = onPath('go', env) ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (go) {
    try {
      const gopath = execFileSync(go, ['env', 'GOPATH'], { encoding: 'utf8' }).trim().split(delimiter)[0];
      if (gopath) return join(gopath, 'bin');
    } catch {
      // fall through to the default GOPATH
    }
  }
  return join(homedir(), 'go', 'bin');
}

/**
 * The Temporal CLI, looked up in the documented order: TEMPORAL_CLI_PATH, `temporal` on PATH,
 * the Go bin folder. Building it is the provisioning script's job (scripts/provision.sh).
 */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TEMPORAL_CLI_PATH) {
    if (!existsSync(env.TEMPORAL_CLI_PATH)) {
      throw new ToolchainError(`TEMPORAL_CLI_PATH points at ${env.TEMPORAL_CLI_PATH}, which does not exist`);
    }
    return env.TEMPORAL_CLI_PATH;
  }
  const fromPath = onPath('temporal', env);
  if (fromPath) return fromPath;
  const goBin = goBinDir(env);
  if (goBin && existsSync(join(goBin, 'temporal'))) return join(goBin, 'temporal');
  return undefined;
}

export function requireTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const cli = findTemporalCli(env);
  if (!cli) {
    throw new ToolchainError(
      'No Temporal CLI found (TEMPORAL_CLI_PATH, `temporal` on PATH, the Go bin folder). ' +
        'Run `npm run provision`, or install it with ' +
        '`go install github.com/temporalio/cli/cmd/temporal@v1.5.1`.',
    );
  }
  return cli;
}

function importsTorch(python: string): boolean {
  const r = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
  return r.status === 0;
}

let cachedPython: string | undefined;

/** The Python interpreter that imports torch: LLAMA_NAS_PYTHON, then python3 on PATH, then /usr/bin/python3. */
export function findTorchPython(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.LLAMA_NAS_PYTHON) return env.LLAMA_NAS_PYTHON;
  if (cachedPython) return cachedPython;
  const candidates = [onPath('python3', env), onPath('python', env), '/usr/bin/python3'].filter(
    (c): c is string => typeof c === 'string' && existsSync(c),
  );
  for (const python of [...new Set(candidates)]) {
    if (importsTorch(python)) {
      cachedPython = python;
      return python;
    }
  }
  return undefined;
}

export function requireTorchPython(env: NodeJS.ProcessEnv = process.env): string {
  const python = findTorchPython(env);
  if (!python) {
    throw new ToolchainError(
      'No Python interpreter that imports torch was found (LLAMA_NAS_PYTHON, python3, /usr/bin/python3). ' +
        'Run `npm run provision` (as root on Debian it installs python3-torch), or set LLAMA_NAS_PYTHON.',
    );
  }
  return python;
}

/** Where the project itself lives (the trainer module, config examples). */
export const projectRoot = resolve(__dirname, '..');
