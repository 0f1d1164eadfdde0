import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  type TestBackend,
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

/** The numerics every evaluation the campaign kept was scored with (src/campaign/layout.ts's evaluations/<context>/). */
function numericsOf(campaignDir: string): Record<string, string>[] {
  const root = join(campaignDir, 'evaluations');
  return readdirSync(root).map(
    (dir) =>
      (
        JSON.parse(readFileSync(join(root, dir, 'context.json'), 'utf8')) as {
          settings: { numerics: Record<string, string> };
        }
      ).settings.numerics,
  );
}

const NUMERICS: Record<TestBackend, Record<string, string>> = {
  onnx: { backend: 'onnx', dtype: 'float32' },
  torch: { backend: 'torch', device: 'cpu', dtype: 'float32' },
};

/** Every evaluation was scored by `backend`: a campaign that fell back to the other one fails here. */
function expectScoredBy(campaignDir: string, backend: TestBackend): void {
  const numerics = numericsOf(campaignDir);
  expect(numerics.length).toBeGreaterThan(0);
  for (const n of numerics) expect(n).toEqual(NUMERICS[backend]);
}

/** The pids of the scoring processes a torch worker's injected device failures SIGKILLed (activities/evaluate.ts). */
function killedScoringProcesses(home: string): string[] {
  const log = readFileSync(join(home, 'worker.log'), 'utf8');
  return [...log.matchAll(/injected device failure: SIGKILLed the scoring process \(pid (\d+)\)/g)].map(
    (m) => m[1]!,
  );
}

const BACKENDS: TestBackend[] = ['onnx', 'torch'];

describe('llamaNasCampaign on a reduced embedded world (real server, worker processes, trainer, runtime)', () => {
  let world: EmbeddedWorld;
  const address = () => process.env.TEMPORAL_ADDRESS!;

  beforeAll(async () => {
    world = await reducedWorld();
  }, 600_000);

  /**
   * Runs a campaign to its end on the shared server. `history`: with LLAMA_NAS_RECORD_HISTORIES
   * set, the file-name prefix its recorded histories are kept under (see test/integration/replay.test.ts).
   */
  async function run(
    name: string,
    config: CampaignConfigInput,
    opts: { during?: (workflowId: string) => Promise<void>; history?: string } = {},
  ) {
    const addr = address();
    const { client, close } = await testClient(addr);
    try {
      const handle = await client.workflow.start('llamaNasCampaign', {
        taskQueue: 'llama-nas',
        workflowId: `campaign-${name}`,
        args: [config],
      });
      await opts.during?.(handle.workflowId);
      const result = (await handle.result()) as CampaignResult;
      if (process.env.LLAMA_NAS_RECORD_HISTORIES && opts.history !== undefined) {
        // the campaign, and every run (one per LINAS loop) of one task's search
        const search = `${handle.workflowId}/search/arc_easy`;
        const runs: string[] = [];
        for await (const r of client.workflow.list({ query: `WorkflowId = '${search}'` })) runs.push(r.runId);
        recordHistory(addr, handle.workflowId, undefined, `${opts.history}campaign.json`);
        runs
          .reverse()
          .forEach((runId, i) =>
            recordHistory(addr, search, runId, `${opts.history}search-run-${i + 1}.json`),
          );
      }
      return { result, handle };
    } finally {
      await close();
    }
  }

  describe.each(BACKENDS)('scored by %s', (backend) => {
    let baseline: CampaignResult;
    // the ONNX campaigns keep the names their recorded histories have (test/fixtures/histories)
    const id = (name: string) => (backend === 'onnx' ? name : `${name}-${backend}`);
    const campaign = (name: string, home: string) =>
      reducedCampaign(world, id(name), join(home, 'campaign'), backend);

    it('completes uninterrupted: fronts, quantized fronts, report', async () => {
      const home = join(root, id('baseline'));
      const worker = startWorkerProcess(home, address());
      try {
        const { result } = await run(id('baseline'), campaign('baseline', home));
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
        // each size-accuracy front point as ONNX and GGUF, float and int8, listed in the report
        const models = JSON.parse(readFileSync(join(result.reportDir, 'tables', 'models.json'), 'utf8')) as {
          quant: string;
          onnx: string;
          gguf: string;
        }[];
        expect(new Set(models.map((m) => m.quant))).toEqual(new Set(['none', 'int8']));
        const html = readFileSync(join(result.reportDir, 'report.html'), 'utf8');
        for (const m of models) {
          expect(existsSync(join(result.reportDir, m.onnx))).toBe(true);
          expect(existsSync(join(result.reportDir, m.gguf))).toBe(true);
          expect(html).toContain(m.gguf);
        }
        expect(JSON.parse(readFileSync(result.resultsFile, 'utf8')).records.length).toBeGreaterThanOrEqual(
          24,
        );
        expectNoRepeatedEvaluation(result.campaignDir);
        expectScoredBy(result.campaignDir, backend);
      } finally {
        await killHard(worker);
      }
    }, 900_000);

    it('survives SIGKILLed workers during fine-tuning, during evaluations and between loops, with the same fronts', async () => {
      const home = join(root, id('killed'));
      const config = campaign('killed', home);
      let worker = startWorkerProcess(home, address());
      const restart = async (what: string, predicate: () => boolean) => {
        await waitFor(what, predicate);
        await killHard(worker);
        worker = startWorkerProcess(home, address());
      };
      try {
        const { result } = await run(id('killed'), config, {
          // the replay test's histories: a campaign whose workers died at every stage
          history: backend === 'onnx' ? '' : `${backend}-`,
          during: async () => {
            await restart('a trainer checkpoint', () => trainerCheckpoints(home).length > 0);
            await restart('three evaluations', () => readComputed(join(home, 'campaign')).length >= 3);
            await restart('a recorded loop', () => recordedStates(join(home, 'campaign')).length >= 1);
          },
        });
        expect(frontsOf(result)).toEqual(frontsOf(baseline));
        expectNoRepeatedEvaluation(result.campaignDir);
        expectScoredBy(result.campaignDir, backend);
      } finally {
        await killHard(worker);
      }
    }, 900_000);

    it('survives a SIGKILLed server and 20% of attempts failing as device failures, with the same fronts', async () => {
      const home = join(root, id('faults'));
      const state = join(root, `${id('faults')}-server`);
      const port = await freePort();
      const uiPort = await freePort();
      const addr = `127.0.0.1:${port}`;
      const serve = () => startDevServer({ cli: requireTemporalCli(), stateDir: state, port, uiPort });
      let server = serve();
      await waitForPort(port, '127.0.0.1', 120_000);
      const worker = startWorkerProcess(home, addr);
      try {
        const config = { ...campaign('faults', home), faultInjection: { failureRate: 0.2, seed: 1 } };
        const { client, close } = await testClient(addr);
        const handle = await client.workflow.start('llamaNasCampaign', {
          taskQueue: 'llama-nas',
          workflowId: `campaign-${id('faults')}`,
          args: [config],
        });
        await close();
        await waitFor('four evaluations', () => readComputed(join(home, 'campaign')).length >= 4);
        await killHard(server);
        server = serve();
        await waitForPort(port, '127.0.0.1', 120_000);
        const again = await testClient(addr);
        try {
          const result = (await again.client.workflow
            .getHandle(handle.workflowId)
            .result()) as CampaignResult;
          expect(frontsOf(result)).toEqual(frontsOf(baseline));
          expectNoRepeatedEvaluation(result.campaignDir);
          expectScoredBy(result.campaignDir, backend);
        } finally {
          await again.close();
        }
        const killed = killedScoringProcesses(home);
        if (backend === 'torch') {
          // each injected failure killed the scoring process; a killed one was restarted, or no
          // second live process could have been killed (and the campaign could not have finished)
          expect(new Set(killed).size).toBeGreaterThanOrEqual(2);
        } else {
          expect(killed).toEqual([]);
        }
      } finally {
        await killHard(worker);
        await killHard(server);
      }
    }, 900_000);
  });

  it('pauses, resumes and extends the budget of a running search through messages', async () => {
    const home = join(root, 'steered');
    const worker = startWorkerProcess(home, address());
    const config = reducedCampaign(world, 'steered', join(home, 'campaign'));
    config.tasks = [config.tasks[0]!];
    try {
      const { result } = await run('steered', config, {
        during: async (workflowId) => {
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
        },
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
