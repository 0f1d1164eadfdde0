import type { Client } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

/** temporal.api.enums.v1.EventType numbers of the workflow-task events (fixed by the API). */
const EVENT = { STARTED: 6, COMPLETED: 7, TIMED_OUT: 8, FAILED: 9 } as const;
const OUTCOME: Record<number, string> = { 7: 'COMPLETED', 8: 'TIMED_OUT', 9: 'FAILED' };

/** Each workflow task of a history: how long the worker held it (started to completed), in ms. */
export function workflowTaskDurations(
  history: History,
): { startedEventId: number; ms: number; outcome: string }[] {
  const events = history.events ?? [];
  const out: { startedEventId: number; ms: number; outcome: string }[] = [];
  for (const [i, e] of events.entries()) {
    if (Number(e.eventType) !== EVENT.STARTED) continue;
    const end = events.slice(i + 1).find((n) => OUTCOME[Number(n.eventType)] !== undefined);
    if (!end) continue; // still running
    out.push({
      startedEventId: Number(e.eventId),
      ms: tsToMs(end.eventTime!) - tsToMs(e.eventTime!),
      outcome: OUTCOME[Number(end.eventType)]!,
    });
  }
  return out;
}

/** The histories of every run of a workflow id (a search continues as new after each loop). */
export async function historiesOfAllRuns(client: Client, workflowId: string): Promise<History[]> {
  const runs: string[] = [];
  for await (const r of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(r.runId);
  return Promise.all(runs.map((runId) => client.workflow.getHandle(workflowId, runId).fetchHistory()));
}
