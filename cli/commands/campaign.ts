import type { Command } from 'commander';
import { loadCampaignFile } from '../../config/load';
import { connectClient } from '../../workers/connection';
import { campaignStatus, createCampaignSchedule, listCampaigns, startCampaign } from '../campaign-client';
import { formatCampaignReport } from '../campaign-status';
import { UsageError } from '../errors';
import { writeCampaignFolderReport } from './report';

async function withClient<T>(
  fn: (client: Awaited<ReturnType<typeof connectClient>>) => Promise<T>,
): Promise<T> {
  const client = await connectClient();
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

function print(json: boolean, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text());
}

export function register(program: Command): void {
  const campaign = program.command('campaign').description('start, follow and steer LLaMA-NAS campaigns');

  campaign
    .command('start')
    .argument('<config>', 'campaign file (JSON or YAML); relative paths are resolved against its folder')
    .option('--json', 'print the workflow id as JSON', false)
    .description('validate a campaign file and start its workflow (or attach to the running one)')
    .action(async (file: string, opts: { json: boolean }) => {
      const config = loadCampaignFile(file);
      await withClient(async (client) => {
        const { handle, resumed } = await startCampaign(client, config);
        print(
          opts.json,
          { workflowId: handle.workflowId, resumed },
          () => `${resumed ? 'resumed running' : 'started'} campaign ${handle.workflowId}`,
        );
      });
    });

  campaign
    .command('list')
    .option('--json', 'JSON output', false)
    .description('list campaigns')
    .action(async (opts: { json: boolean }) => {
      await withClient(async (client) => {
        const rows = await listCampaigns(client);
        print(
          opts.json,
          rows,
          () =>
            rows
              .map((r) => `${r.status.padEnd(12)} ${r.workflowId}  ${r.startTime.toISOString()}`)
              .join('\n') || 'no campaigns',
        );
      });
    });

  campaign
    .command('status')
    .argument('<id>', 'campaign workflow id (campaign-<name>)')
    .option('--json', 'JSON output', false)
    .description(
      "stage and every task's search: evaluated/budget, best accuracy, hypervolume, in flight, ETA",
    )
    .action(async (id: string, opts: { json: boolean }) => {
      await withClient(async (client) => {
        const report = await campaignStatus(client, id);
        print(opts.json, report, () => formatCampaignReport(report, Date.now()));
      });
    });

  for (const [name, signal, what] of [
    ['pause', 'pause', 'pause the evaluations of every search (running ones finish)'],
    ['resume', 'resume', 'resume a paused campaign'],
  ] as const) {
    campaign
      .command(name)
      .argument('<id>', 'campaign workflow id')
      .description(what)
      .action(async (id: string) => {
        await withClient(async (client) => {
          await client.workflow.getHandle(id).signal(signal);
          console.log(`${name}d ${id}`);
        });
      });
  }

  campaign
    .command('cancel')
    .argument('<id>', 'campaign workflow id')
    .description('cancel a campaign; artifacts already written stay whole')
    .action(async (id: string) => {
      await withClient(async (client) => {
        await client.workflow.getHandle(id).cancel();
        console.log(`cancellation requested for ${id}`);
      });
    });

  campaign
    .command('extend')
    .argument('<search-id>', 'search workflow id (campaign-<name>/search/<task>)')
    .argument('<evaluations>', 'extra real evaluations')
    .description('extend the evaluation budget of a running search')
    .action(async (id: string, more: string) => {
      const n = Number(more);
      if (!Number.isInteger(n) || n <= 0)
        throw new UsageError(`evaluations: "${more}" is not a positive whole number`);
      await withClient(async (client) => {
        const budget = await client.workflow
          .getHandle(id)
          .executeUpdate<number, [number]>('extendBudget', { args: [n] });
        console.log(`${id}: budget now ${budget}`);
      });
    });

  campaign
    .command('report')
    .argument('<id>', 'campaign workflow id, or a campaign folder')
    .requiredOption('--out <dir>', 'folder for the report')
    .description('write the HTML report, tables and fronts of a campaign')
    .action(async (id: string, opts: { out: string }) => {
      let dir = id;
      if (id.startsWith('campaign-')) {
        dir = await withClient(async (client) => {
          const report = await campaignStatus(client, id);
          if (!report.campaignDir)
            throw new UsageError(`${id}: its campaign folder is not known yet (status ${report.status})`);
          return report.campaignDir;
        });
      }
      console.log(await writeCampaignFolderReport(dir, opts.out));
    });

  const schedule = program
    .command('schedule')
    .description('nightly reruns of a campaign (Temporal schedules)');
  schedule
    .command('create')
    .argument('<config>', 'campaign file')
    .requiredOption('--cron <expr>', 'cron expression, e.g. "0 2 * * *"')
    .option('--id <id>', 'schedule id (default nightly-<name>)')
    .description('create a schedule that starts the campaign (overlap policy: skip)')
    .action(async (file: string, opts: { cron: string; id?: string }) => {
      const config = loadCampaignFile(file);
      await withClient(async (client) => {
        const id = await createCampaignSchedule(client, config, opts.cron, opts.id);
        console.log(`created schedule ${id} (${opts.cron})`);
      });
    });
  schedule
    .command('list')
    .option('--json', 'JSON output', false)
    .action(async (opts: { json: boolean }) => {
      await withClient(async (client) => {
        const rows: { scheduleId: string; paused: boolean; cron: string[] }[] = [];
        for await (const s of client.schedule.list()) {
          rows.push({
            scheduleId: s.scheduleId,
            paused: s.state.paused,
            cron: (s.spec as { cronExpressions?: string[] } | undefined)?.cronExpressions ?? [],
          });
        }
        print(
          opts.json,
          rows,
          () => rows.map((r) => `${r.scheduleId}${r.paused ? ' (paused)' : ''}`).join('\n') || 'no schedules',
        );
      });
    });
  schedule
    .command('delete')
    .argument('<id>', 'schedule id')
    .action(async (id: string) => {
      await withClient(async (client) => {
        await client.schedule.getHandle(id).delete();
        console.log(`deleted schedule ${id}`);
      });
    });
}
