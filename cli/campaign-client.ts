import {
  ScheduleOverlapPolicy,
  WorkflowIdConflictPolicy,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { CampaignConfig } from '../config/campaign';
import type { CampaignStatus } from '../workflows/campaign';
import type { SearchStatus } from '../workflows/search';

export const CAMPAIGN_WORKFLOW = 'llamaNasCampaign';

export function campaignWorkflowId(config: CampaignConfig): string {
  return `campaign-${config.name}`;
}

/**
 * Starts a campaign, or attaches to the running one of the same name (so an interrupted
 * `npm run demo` resumes it rather than starting over). Returns whether it was already running.
 */
export async function startCampaign(
  client: Client,
  config: CampaignConfig,
  taskQueue = config.queues.main,
): Promise<{ handle: WorkflowHandle; resumed: boolean }> {
  const workflowId = campaignWorkflowId(config);
  let resumed = false;
  try {
    resumed = (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch {
    // never started under this name
  }
  const handle = await client.workflow.start(CAMPAIGN_WORKFLOW, {
    workflowId,
    taskQueue,
    args: [config],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    // a worker busy with heavy activities may take more than the default 10 s to answer
    workflowTaskTimeout: '1 minute',
  });
  return { handle, resumed };
}

/** An activity the campaign is running now, with its last heartbeat (e.g. pre-training progress). */
export interface RunningActivity {
  type: string;
  attempt: number;
  heartbeat?: unknown;
}

export interface CampaignReport {
  workflowId: string;
  status: string;
  activities: RunningActivity[];
  stage?: CampaignStatus['stage'];
  campaignDir?: string;
  searches: SearchStatus[];
  result?: unknown;
}

export async function campaignStatus(client: Client, workflowId: string): Promise<CampaignReport> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const report: CampaignReport = {
    workflowId,
    status: description.status.name,
    searches: [],
    activities: (description.raw.pendingActivities ?? []).map((a) => ({
      type: a.activityType?.name ?? '?',
      attempt: a.attempt ?? 1,
      heartbeat: a.heartbeatDetails?.payloads?.length
        ? defaultPayloadConverter.fromPayload(a.heartbeatDetails.payloads[0]!)
        : undefined,
    })),
  };
  if (description.status.name === 'COMPLETED') {
    report.result = await handle.result();
    report.stage = 'done';
  }
  try {
    const status = await handle.query<CampaignStatus>('status');
    report.stage = status.stage;
    report.campaignDir = status.campaignDir;
    for (const search of status.searches) {
      try {
        report.searches.push(
          await client.workflow.getHandle(search.workflowId).query<SearchStatus>('progress'),
        );
      } catch {
        // a search not started yet, or already closed
      }
    }
  } catch {
    // a closed workflow with no worker to answer queries: the description is all there is
  }
  return report;
}

export async function listCampaigns(
  client: Client,
): Promise<{ workflowId: string; status: string; startTime: Date }[]> {
  const rows: { workflowId: string; status: string; startTime: Date }[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowType = '${CAMPAIGN_WORKFLOW}'` })) {
    rows.push({ workflowId: w.workflowId, status: w.status.name, startTime: w.startTime });
  }
  return rows;
}

export async function createCampaignSchedule(
  client: Client,
  config: CampaignConfig,
  cron: string,
  scheduleId = `nightly-${config.name}`,
): Promise<string> {
  await client.schedule.create({
    scheduleId,
    spec: { cronExpressions: [cron] },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
    action: {
      type: 'startWorkflow',
      workflowType: CAMPAIGN_WORKFLOW,
      workflowId: campaignWorkflowId(config),
      taskQueue: config.queues.main,
      args: [config],
      workflowTaskTimeout: '1 minute',
    },
  });
  return scheduleId;
}
