import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { buildProgram } from '../../cli/main';
import { testClient, uniqueId } from '../helpers/temporal';

/**
 * The install the Dockerfile makes: a clone of the committed code, `npm ci --omit=dev`, the
 * workflow bundle built; from it every command's --help runs and a worker completes a probe.
 * It tests HEAD, so commit before running it.
 */
const ROOT = resolve(__dirname, '../..');
const run = promisify(execFile);

function commandPaths(c: Command, path: string[] = []): string[][] {
  return [path, ...c.commands.flatMap((sub) => commandPaths(sub, [...path, sub.name()]))];
}

function must(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Resolves with the stderr seen so far once `pattern` appears on it; rejects if the child exits first. */
function waitForStderr(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let seen = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) resolvePromise(seen);
    });
    child.on('exit', (code, signal) =>
      reject(new Error(`the worker exited (${code ?? signal}) before ${pattern}:\n${seen}`)),
    );
  });
}

describe('a production install (git clone of HEAD, npm ci --omit=dev)', () => {
  let dir: string;
  let app: string;
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', NODE_ENV: 'production' };

  beforeAll(() => {
    const status = must('git', ['status', '--porcelain', '--untracked-files=no'], ROOT);
    if (status.trim())
      console.warn(`production-install: testing HEAD; uncommitted changes are not in it:\n${status}`);
    dir = mkdtempSync(join(tmpdir(), 'llama-nas-prod-'));
    app = join(dir, 'app');
    must('git', ['clone', '--quiet', '--no-hardlinks', ROOT, app], dir);
    must('git', ['checkout', '--quiet', '--detach', must('git', ['rev-parse', 'HEAD'], ROOT).trim()], app);
    must(
      'npm',
      ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
      app,
      env,
    );
    must('npm', ['run', '--silent', 'build:workflows'], app, env);
  }, 600_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the runtime dependencies only', () => {
    expect(existsSync(join(app, 'node_modules/commander/package.json'))).toBe(true);
    for (const dev of ['jest', 'typescript', 'eslint', 'ts-jest'])
      expect(existsSync(join(app, 'node_modules', dev))).toBe(false);
  });

  it("runs every command's --help", async () => {
    const paths = commandPaths(buildProgram());
    expect(paths.length).toBeGreaterThan(10);
    const failures: string[] = [];
    const queue = [...paths];
    const lane = async (): Promise<void> => {
      for (let path = queue.shift(); path; path = queue.shift()) {
        try {
          const { stdout } = await run('node', ['bin/llama-nas.js', ...path, '--help'], { cwd: app, env });
          if (!stdout.startsWith(`Usage: ${['llama-nas', ...path].join(' ')}`))
            failures.push(`${path.join(' ')}: unexpected help:\n${stdout}`);
        } catch (err) {
          const e = err as { stderr?: string; message: string };
          failures.push(`llama-nas ${path.join(' ')} --help: ${e.stderr || e.message}`);
        }
      }
    };
    await Promise.all([lane(), lane(), lane()]);
    expect(failures).toEqual([]);
  }, 300_000);

  it('runs a worker on the prebuilt workflow bundle that completes a probe workflow', async () => {
    const queue = uniqueId('prod-install');
    const worker = spawn('node', ['bin/llama-nas.js', 'worker', '--queues', `main=${queue}`], {
      cwd: app,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const { client, close } = await testClient();
    try {
      const started = await waitForStderr(worker, /workflows from the prebuilt bundle/);
      expect(started).toContain(join(app, 'dist/workflow-bundle.js'));
      const workflowId = uniqueId('probe');
      const result = await client.workflow.execute('probeWorkflow', {
        taskQueue: queue,
        workflowId,
        args: [],
      });
      expect(result).toMatchObject({ host: hostname(), node: process.version });

      // the workflow task and the activity were run by that worker process
      const identity = `${worker.pid}@${hostname()}`;
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const identities = (history.events ?? []).flatMap((e) => [
        e.workflowTaskCompletedEventAttributes?.identity,
        e.activityTaskStartedEventAttributes?.identity,
      ]);
      expect(identities.filter(Boolean).length).toBeGreaterThanOrEqual(3);
      expect(new Set(identities.filter(Boolean))).toEqual(new Set([identity]));
    } finally {
      const exited = new Promise<number | null>((r) => worker.on('exit', (code) => r(code)));
      worker.kill('SIGINT');
      expect(await exited).toBe(0);
      await close();
    }
  }, 300_000);
});
