import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitForPort } from '../../src/devserver';
import { requireTemporalCli } from '../../src/toolchain';
import { freePort } from '../helpers/ports';

const BIN = resolve(__dirname, '../../bin/llama-nas.js');

function startServer(home: string, port: number, uiPort: number): ChildProcess {
  // its own process group, so that SIGKILL reaches the Temporal CLI it starts as well
  return spawn(process.execPath, [BIN, 'server', '--port', String(port), '--ui-port', String(uiPort)], {
    env: { ...process.env, LLAMA_NAS_HOME: home },
    stdio: 'ignore',
    detached: true,
  });
}

function killGroup(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  process.kill(-child.pid!, 'SIGKILL');
  return exited;
}

function temporal(port: number, ...args: string[]): string {
  const r = spawnSync(requireTemporalCli(), [...args, '--address', `127.0.0.1:${port}`], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`temporal ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

describe('npx llama-nas server', () => {
  const home = mkdtempSync(join(tmpdir(), 'llama-nas-home-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('keeps workflows across a SIGKILL and restart (SQLite state under LLAMA_NAS_HOME)', async () => {
    const port = await freePort();
    const uiPort = await freePort();
    let server = startServer(home, port, uiPort);
    try {
      await waitForPort(port, '127.0.0.1', 120_000);
      const workflowId = `persisted-${Date.now()}`;
      // no worker is needed: the workflow stays open on a queue nobody polls
      temporal(
        port,
        'workflow',
        'start',
        '--type',
        'probeWorkflow',
        '--task-queue',
        'nobody-polls',
        '--workflow-id',
        workflowId,
      );
      await killGroup(server);
      server = startServer(home, port, uiPort);
      await waitForPort(port, '127.0.0.1', 120_000);
      let listed = '';
      for (let i = 0; i < 40 && !listed.includes(workflowId); i++) {
        listed = temporal(port, 'workflow', 'list');
        if (!listed.includes(workflowId)) await new Promise((r) => setTimeout(r, 500));
      }
      expect(listed).toContain(workflowId);
      const described = JSON.parse(
        temporal(port, 'workflow', 'describe', '--workflow-id', workflowId, '--output', 'json'),
      );
      expect(JSON.stringify(described)).toMatch(/WORKFLOW_EXECUTION_STATUS_RUNNING|"status":\s*"?Running/i);
    } finally {
      if (server.exitCode === null) await killGroup(server);
    }
  });
});
