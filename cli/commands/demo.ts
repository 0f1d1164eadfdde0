import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadCampaignFile } from '../../config/load';
import { isPortOpen, startDevServer, waitForPort } from '../../src/devserver';
import { requireTemporalCli, stateDir } from '../../src/toolchain';
import { connectClient } from '../../workers/connection';
import { createWorkers } from '../../workers/run';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { CampaignResult } from '../../workflows/campaign';
import { campaignStatus, startCampaign, type CampaignReport } from '../campaign-client';
import { bestAccuracy } from '../campaign-status';
import { formatSummary, summarise } from '../summary';

function heartbeatText(h: unknown): string {
  if (!h || typeof h !== 'object') return '';
  const o = h as { message?: string; step?: number; totalSteps?: number; done?: number; total?: number };
  if (o.message) return o.message;
  if (o.step !== undefined) return `step ${o.step}${o.totalSteps ? `/${o.totalSteps}` : ''}`;
  if (o.done !== undefined) return `${o.done}/${o.total}`;
  return '';
}

function progressLine(report: CampaignReport): string {
  const running = report.activities
    .map((a) =>
      `${a.type}${a.attempt > 1 ? ` (attempt ${a.attempt})` : ''} ${heartbeatText(a.heartbeat)}`.trim(),
    )
    .join(', ');
  const searches = report.searches
    .flatMap(({ task, progress: s }) => {
      if (!s) return [];
      const best = bestAccuracy(s.front);
      return [
        `${task} ${s.evaluated}/${s.budget}${best !== undefined ? ` best ${(100 * best).toFixed(1)}%` : ''}`,
      ];
    })
    .join(' | ');
  const detail = searches || running;
  return `[${new Date().toISOString().slice(11, 19)}] stage ${report.stage ?? report.status}${detail ? `: ${detail}` : ''}`;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'the whole method on the embedded default: world, base model, InstaTune, LINAS, INT8, report',
    )
    .option('--config <file>', 'demo campaign file', resolve(__dirname, '../../config/demo.json'))
    .action(async (opts: { config: string }) => {
      const config = loadCampaignFile(opts.config);
      const started = Date.now();
      const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
      const [host, port] = [address.split(':')[0]!, Number(address.split(':')[1] ?? 7233)];
      let server: ReturnType<typeof startDevServer> | undefined;
      if (!(await isPortOpen(port, host))) {
        console.log(`starting the embedded Temporal server (state in ${join(stateDir(), 'temporal.db')})`);
        server = startDevServer({ cli: requireTemporalCli(), stateDir: stateDir(), port });
        await waitForPort(port, host, 120_000);
      } else {
        console.log(`using the Temporal server on ${address}`);
      }
      process.env.TEMPORAL_ADDRESS = address;
      // the demo prints its own progress; the SDK's and the core's logs only when something is wrong
      Runtime.install({
        logger: new DefaultLogger('ERROR'),
        telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
      });
      const workers = await createWorkers({ roles: ['main', 'train', 'eval'], concurrency: { eval: 2 } });
      const running = workers.map((w) => w.run());
      const client = await connectClient();
      let interrupted = false;
      const stop = async () => {
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        await Promise.allSettled(running);
        await client.connection.close();
        if (server && server.exitCode === null) server.kill('SIGTERM');
      };
      process.once('SIGINT', () => {
        interrupted = true;
        console.log(
          '\ninterrupted: the campaign stays on the Temporal server; `npm run demo` again resumes it',
        );
        void stop().then(() => process.exit(130));
      });
      try {
        const { handle, resumed } = await startCampaign(client, config);
        console.log(
          resumed
            ? `resuming campaign ${handle.workflowId} where it stopped`
            : `started campaign ${handle.workflowId} (Web UI: http://localhost:8233/namespaces/default/workflows/${handle.workflowId})`,
        );
        let last = '';
        const timer = setInterval(() => {
          void campaignStatus(client, handle.workflowId)
            .then((r) => {
              const line = progressLine(r);
              if (line.slice(11) !== last) console.log(line);
              last = line.slice(11);
            })
            .catch(() => undefined);
        }, 3000);
        let result: CampaignResult;
        try {
          result = (await handle.result()) as CampaignResult;
        } finally {
          clearInterval(timer);
        }
        console.log(`\ncampaign done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
        console.log(formatSummary(summarise(result)));
        console.log(`\nreport:  ${join(result.reportDir, 'report.html')}`);
        console.log(`results: ${result.resultsFile}`);
        console.log(
          `Web UI:  http://localhost:8233/namespaces/default/workflows/${handle.workflowId} (while \`npx llama-nas server\` runs)`,
        );
      } finally {
        if (!interrupted) await stop();
      }
      // the native runtime keeps the event loop alive after its workers have stopped
      process.exit(process.exitCode ?? 0);
    });
}
