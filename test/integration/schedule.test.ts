import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { testClient } from '../helpers/temporal';

const BIN = resolve(__dirname, '../../bin/llama-nas.js');

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: process.env });
}

describe('llama-nas schedule', () => {
  it('creates a nightly schedule from the CLI that is listed and triggers a campaign run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'schedule-'));
    const name = `nightly${Date.now().toString(36)}`;
    const file = join(dir, 'campaign.json');
    // a queue no worker polls: the triggered run is started, then terminated by the test
    writeFileSync(
      file,
      JSON.stringify({
        name,
        baseModel: 'embedded',
        tasks: [{ name: 'arc_easy' }],
        queues: { main: `unpolled-${name}` },
      }),
    );
    const id = `test-${name}`;
    const created = cli('schedule', 'create', file, '--cron', '0 2 * * *', '--id', id);
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain(`created schedule ${id}`);

    const { client, close } = await testClient();
    try {
      let listed: { scheduleId: string; cron: string[] }[] = [];
      for (let i = 0; i < 40 && !listed.some((s) => s.scheduleId === id); i++) {
        listed = JSON.parse(cli('schedule', 'list', '--json').stdout);
        if (!listed.some((s) => s.scheduleId === id)) await new Promise((r) => setTimeout(r, 500));
      }
      expect(listed.find((s) => s.scheduleId === id)).toBeDefined();

      const handle = client.schedule.getHandle(id);
      const described = await handle.describe();
      expect(described.policies.overlap).toBe('SKIP');
      await handle.trigger();
      let runs: { workflowId: string }[] = [];
      for (let i = 0; i < 60 && runs.length === 0; i++) {
        runs = (await handle.describe()).info.recentActions.map((a) => a.action.workflow);
        if (runs.length === 0) await new Promise((r) => setTimeout(r, 500));
      }
      expect(runs.length).toBe(1);
      expect(runs[0]!.workflowId).toContain(`campaign-${name}`);
      const run = client.workflow.getHandle(runs[0]!.workflowId);
      expect((await run.describe()).type).toBe('llamaNasCampaign');
      await run.terminate('schedule test');

      expect(cli('schedule', 'delete', id).status).toBe(0);
    } finally {
      await close();
    }
  });
});
