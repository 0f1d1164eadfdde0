import {
  ScheduleOverlapPolicy,
  WorkflowIdConflictPolicy,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { WorkflowNotFoundError, defaultPayloadConverter } from '@temporalio/common';
import type { CampaignConfig } from '../config/campaign';
import type { SearchProgress } from '../src/campaign/types';
import type { CampaignStatus } from '../workflows/campaign';
import { searchWorkflowId, type SearchStatus } from '../workflows/search';
import type { CampaignReport, SearchReport } from './campaign-status';

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

export type { CampaignReport, RunningActivity, SearchReport } from './campaign-status';

/** How long a status query may wait for a worker to answer. */
const QUERY_DEADLINE_MS = 10_000;

function why(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** The task names of a campaign, read from its start event (its config) when its status query fails. */
async function tasksFromStart(client: Client, workflowId: string): Promise<string[]> {
  const page = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId },
    maximumPageSize: 1,
  });
  const payload = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const config = payload
    ? defaultPayloadConverter.fromPayload<{ tasks?: { name?: unknown }[] }>(payload)
    : {};
  return (config.tasks ?? []).map((t) => String(t.name));
}

async function readSearch(client: Client, task: string, workflowId: string): Promise<SearchReport> {
  const handle = client.workflow.getHandle(workflowId);
  let state: string;
  try {
    state = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { task, workflowId, state: 'NOT_STARTED' };
    return { task, workflowId, state: 'UNKNOWN', unreadable: `not described: ${why(err)}` };
  }
  try {
    const progress = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
      handle.query<SearchStatus>('progress'),
    );
    return { task, workflowId, state, progress };
  } catch (err) {
    if (state === 'COMPLETED') {
      // no worker to replay a closed search: its result holds the final figures
      const final = (await handle.result()) as SearchProgress;
      return {
        task,
        workflowId,
        state,
        progress: { ...final, task, paused: false, inFlight: 0, finishedInLoop: 0 },
      };
    }
    return { task, workflowId, state, unreadable: `query not answered: ${why(err)}` };
  }
}

/**
 * What `campaign status` shows: the campaign's stage and every task's search, each read on its
 * own (in parallel, with a deadline); what could not be read says why.
 */
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
  let searches: { task: string; workflowId: string }[] = [];
  try {
    const status = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
      handle.query<CampaignStatus>('status'),
    );
    report.stage = status.stage;
    report.campaignDir = status.campaignDir;
    searches = status.searches;
  } catch (err) {
    if (report.stage !== 'done') report.stageUnreadable = `status query not answered: ${why(err)}`;
  }
  if (!searches.length) {
    // before the campaign has named them (or when it does not answer): from its config
    const tasks = await tasksFromStart(client, workflowId).catch(() => []);
    searches = tasks.map((task) => ({ task, workflowId: searchWorkflowId(workflowId, task) }));
  }
  report.searches = await Promise.all(searches.map((s) => readSearch(client, s.task, s.workflowId)));
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
