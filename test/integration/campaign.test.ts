import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { CampaignConfigInput } from '../../config/campaign';
import { startDevServer, waitForPort } from '../../src/devserver';
import { requireTemporalCli } from '../../src/toolchain';
import type { EmbeddedWorld } from '../../src/world/embedded';
import type { CampaignResult } from '../../workflows/campaign';
import { freePort } from '../helpers/ports';
import { readComputed, recordedStates } from '../../src/campaign/layout';
import {
  killHard,
  reducedCampaign,
  reducedWorld,
  startWorkerProcess,
  trainerCheckpoints,
  waitFor,
} from '../helpers/reduced-campaign';
import { testClient } from '../helpers/temporal';

const BIN = resolve(__dirname, '../../bin/llama-nas.js');
const root = mkdtempSync(join(tmpdir(), 'llama-nas-campaign-'));

function frontsOf(
  result: CampaignResult,
): Record<string, { key: string; objectives: Record<string, number> }[]> {
  return Object.fromEntries(
    Object.entries(result.fronts).map(([task, front]) => [
      task,
      front.map((p) => ({ key: p.key, objectives: p.objectives })).sort((a, b) => a.key.localeCompare(b.key)),
    ]),
  );
}

/** Every message along a failure's chain of causes (workflow -> activity -> application failure). */
function messages(error: unknown): string {
  const out: string[] = [];
  for (let e = error as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    out.push(String(e.message));
  return out.join(' <- ');
}

/** Writes a workflow history as the Temporal CLI prints it (what the replay test reads). */
function recordHistory(address: string, workflowId: string, runId: string | undefined, file: string): void {
  const args = ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', address];
  if (runId) args.push('--run-id', runId);
  const r = spawnSync(requireTemporalCli(), args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`temporal workflow show ${workflowId}: ${r.stderr}`);
  const dir = join(__dirname, '../fixtures/histories');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), r.stdout);
  const index = join(dir, 'index.json');
  const ids = existsSync(index) ? (JSON.parse(readFileSync(index, 'utf8')) as Record<string, string>) : {};
  writeFileSync(index, `${JSON.stringify({ ...ids, [file]: workflowId }, null, 2)}\n`);
}

/** The attempt number of every activity a workflow started, in order. */
async function activityAttempts(workflowId: string): Promise<(number | null | undefined)[]> {
  const { client, close } = await testClient(process.env.TEMPORAL_ADDRESS!);
  try {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
  } finally {
    await close();
  }
}

function expectNoRepeatedEvaluation(campaignDir: string): void {
  const computed = readComputed(campaignDir).map((c) => `${c.task}/${c.quant}/${c.key}`);
  expect(computed.length).toBeGreaterThan(0);
  expect(new Set(computed).size).toBe(computed.length);
}

describe('llamaNasCampaign on a reduced embedded world (real server, worker processes, trainer, runtime)', () => {
  let world: EmbeddedWorld;
  let baseline: CampaignResult;
  const address = () => process.env.TEMPORAL_ADDRESS!;

  beforeAll(async () => {
    world = await reducedWorld();
  }, 600_000);

  async function run(
    name: string,
    config: CampaignConfigInput,
    during?: (workflowId: string) => Promise<void>,
    addr = address(),
  ) {
    const { client, close } = await testClient(addr);
    try {
      const handle = await client.workflow.start('llamaNasCampaign', {
        taskQueue: 'llama-nas',
        workflowId: `campaign-${name}`,
        args: [config],
      });
      await during?.(handle.workflowId);
      const result = (await handle.result()) as CampaignResult;
      if (process.env.LLAMA_NAS_RECORD_HISTORIES) {
        // the campaign, and every run (one per LINAS loop) of one task's search
        const search = `${handle.workflowId}/search/arc_easy`;
        const runs: string[] = [];
        for await (const r of client.workflow.list({ query: `WorkflowId = '${search}'` })) runs.push(r.runId);
        recordHistory(addr, handle.workflowId, undefined, 'campaign.json');
        runs.reverse().forEach((runId, i) => recordHistory(addr, search, runId, `search-run-${i + 1}.json`));
      }
      return { result, handle };
    } finally {
      await close();
    }
  }

  it('completes uninterrupted: fronts, quantized fronts, report', async () => {
    const home = join(root, 'baseline');
    const worker = startWorkerProcess(home, address());
    try {
      const { result } = await run('baseline', reducedCampaign(world, 'baseline', join(home, 'campaign')));
      baseline = result;
      expect(Object.keys(result.fronts).sort()).toEqual(['arc_easy', 'winogrande']);
      for (const front of Object.values(result.fronts)) expect(front.length).toBeGreaterThan(0);
      expect(result.fullNetwork).toHaveLength(2);
      expect(result.quantized.length).toBeGreaterThanOrEqual(4);
      for (const q of result.quantized) {
        const float = result.fullNetwork.find((f) => f.task === q.task && f.key === q.key);
        if (float) expect(q.sizeBytes).toBeLessThan(float.sizeBytes);
      }
      expect(existsSync(join(result.reportDir, 'report.html'))).toBe(true);
      expect(JSON.parse(readFileSync(result.resultsFile, 'utf8')).records.length).toBeGreaterThanOrEqual(24);
      expectNoRepeatedEvaluation(result.campaignDir);
    } finally {
      await killHard(worker);
    }
  }, 900_000);

  it('survives SIGKILLed workers during fine-tuning, during evaluations and between loops, with the same fronts', async () => {
    const home = join(root, 'killed');
    const config = reducedCampaign(world, 'killed', join(home, 'campaign'));
    let worker = startWorkerProcess(home, address());
    const restart = async (what: string, predicate: () => boolean) => {
      await waitFor(what, predicate);
      await killHard(worker);
      worker = startWorkerProcess(home, address());
    };
    try {
      const { result } = await run('killed', config, async () => {
        await restart('a trainer checkpoint', () => trainerCheckpoints(home).length > 0);
        await restart('three evaluations', () => readComputed(join(home, 'campaign')).length >= 3);
        await restart('a recorded loop', () => recordedStates(join(home, 'campaign')).length >= 1);
      });
      expect(frontsOf(result)).toEqual(frontsOf(baseline));
      expectNoRepeatedEvaluation(result.campaignDir);
    } finally {
      await killHard(worker);
    }
  }, 900_000);

  it('survives a SIGKILLed server and 20% of attempts failing as device failures, with the same fronts', async () => {
    const home = join(root, 'faults');
    const state = join(root, 'faults-server');
    const port = await freePort();
    const uiPort = await freePort();
    const addr = `127.0.0.1:${port}`;
    const serve = () => startDevServer({ cli: requireTemporalCli(), stateDir: state, port, uiPort });
    let server = serve();
    await waitForPort(port, '127.0.0.1', 120_000);
    const worker = startWorkerProcess(home, addr);
    try {
      const config = {
        ...reducedCampaign(world, 'faults', join(home, 'campaign')),
        faultInjection: { failureRate: 0.2, seed: 1 },
      };
      const { client, close } = await testClient(addr);
      const handle = await client.workflow.start('llamaNasCampaign', {
        taskQueue: 'llama-nas',
        workflowId: 'campaign-faults',
        args: [config],
      });
      await close();
      await waitFor('four evaluations', () => readComputed(join(home, 'campaign')).length >= 4);
      await killHard(server);
      server = serve();
      await waitForPort(port, '127.0.0.1', 120_000);
      const again = await testClient(addr);
      try {
        const result = (await again.client.workflow.getHandle(handle.workflowId).result()) as CampaignResult;
        expect(frontsOf(result)).toEqual(frontsOf(baseline));
        expectNoRepeatedEvaluation(result.campaignDir);
      } finally {
        await again.close();
      }
    } finally {
      await killHard(worker);
      await killHard(server);
    }
  }, 900_000);

  it('pauses, resumes and extends the budget of a running search through messages', async () => {
    const home = join(root, 'steered');
    const worker = startWorkerProcess(home, address());
    const config = reducedCampaign(world, 'steered', join(home, 'campaign'));
    config.tasks = [config.tasks[0]!];
    try {
      const { result } = await run('steered', config, async (workflowId) => {
        const { client, close } = await testClient(address());
        try {
          const campaign = client.workflow.getHandle(workflowId);
          const search = client.workflow.getHandle(`${workflowId}/search/arc_easy`);
          await waitFor('a first evaluation', () => readComputed(join(home, 'campaign')).length >= 1);
          await campaign.signal('pause');
          let status = await search.query<{ paused: boolean; inFlight: number }>('progress');
          for (let i = 0; i < 50 && (!status.paused || status.inFlight > 0); i++) {
            await new Promise((r) => setTimeout(r, 200));
            status = await search.query('progress');
          }
          expect(status).toMatchObject({ paused: true, inFlight: 0 });
          const before = readComputed(join(home, 'campaign')).length;
          await new Promise((r) => setTimeout(r, 3000));
          expect(readComputed(join(home, 'campaign')).length).toBe(before);
          const rejected = await search
            .executeUpdate('extendBudget', { args: [-3] })
            .catch((e: unknown) => e);
          expect(messages(rejected)).toMatch(/not a positive whole number/);
          expect(await search.executeUpdate('extendBudget', { args: [6] })).toBe(18);
          await campaign.signal('resume');
        } finally {
          await close();
        }
      });
      expect(
        readComputed(result.campaignDir).filter((c) => c.quant === 'none').length,
      ).toBeGreaterThanOrEqual(18);
    } finally {
      await killHard(worker);
    }
  }, 900_000);

  it('refuses a bad config, naming the field, from the CLI and from a plain workflow start', async () => {
    const file = join(root, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ ...reducedCampaign(world, 'bad', join(root, 'bad')), linas: { population: 0 } }),
    );
    const cli = spawnSync(process.execPath, [BIN, 'campaign', 'start', file], {
      encoding: 'utf8',
      env: process.env,
    });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain('field linas.population');

    const home = join(root, 'bad-home');
    const worker = startWorkerProcess(home, address());
    try {
      const error = await run('bad', {
        ...reducedCampaign(world, 'bad', join(root, 'bad')),
        tasks: [{ name: 'arc_easy', shots: -1 }],
      } as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect(messages(error)).toMatch(/field tasks\.0\.shots/);
      expect(await activityAttempts('campaign-bad')).toEqual([1]); // refused at once, never retried
    } finally {
      await killHard(worker);
    }
  }, 300_000);

  it('fails at once, naming the file, on a corrupt data file', async () => {
    const bad = join(root, 'corrupt-arc.jsonl');
    const lines = readFileSync(join(world.tasks.arc_easy, 'ARC-Easy-Test.jsonl'), 'utf8').split('\n');
    lines[2] = '{"id": "broken", "question": ';
    writeFileSync(bad, lines.join('\n'));
    const home = join(root, 'corrupt-home');
    const worker = startWorkerProcess(home, address());
    try {
      const config = reducedCampaign(world, 'corrupt', join(root, 'corrupt'));
      config.tasks = [{ name: 'arc_easy', data: bad, limit: 24 }];
      const error = await run('corrupt', config).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      const message = messages(error);
      expect(message).toContain(bad);
      expect(message).toContain(`${bad}:3`);
      expect(await activityAttempts('campaign-corrupt')).toEqual([1]);
    } finally {
      await killHard(worker);
    }
  }, 300_000);
});
