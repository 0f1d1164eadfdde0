import type { CampaignStatus } from '../workflows/campaign';
import type { SearchStatus } from '../workflows/search';

/** An activity the campaign is running now, with its last heartbeat (e.g. pre-training progress). */
export interface RunningActivity {
  type: string;
  attempt: number;
  heartbeat?: unknown;
}

/** One task's search as `campaign status` shows it: its progress, or why it could not be read. */
export interface SearchReport {
  task: string;
  workflowId: string;
  /** The search workflow's status (RUNNING, COMPLETED, ...), NOT_STARTED, or UNKNOWN. */
  state: string;
  progress?: SearchStatus;
  /** Why the progress is missing (a query not answered in time, a failed search...). */
  unreadable?: string;
}

export interface CampaignReport {
  workflowId: string;
  status: string;
  activities: RunningActivity[];
  stage?: CampaignStatus['stage'];
  /** Why the stage could not be read from the campaign workflow. */
  stageUnreadable?: string;
  campaignDir?: string;
  searches: SearchReport[];
  result?: unknown;
}

/** The best accuracy on a search's Pareto front, if its objectives include accuracy. */
export function bestAccuracy(front: SearchStatus['front']): number | undefined {
  const values = front.map((p) => p.objectives.accuracy).filter((a): a is number => a !== undefined);
  return values.length ? Math.max(...values) : undefined;
}

/**
 * The pace a search has measured (evaluations finished over the workflow time since it began)
 * and the time its remaining budget needs at that pace, counted from its last finished
 * evaluation; undefined until one has finished.
 */
export function searchPace(
  s: Pick<SearchStatus, 'timing' | 'budget' | 'evaluated' | 'finishedInLoop' | 'done'>,
  now: number,
): { perHour: number; etaSeconds: number } | undefined {
  const t = s.timing;
  if (!t || !t.completed || t.lastCompletedAt === undefined || t.lastCompletedAt <= t.startedAt)
    return undefined;
  const perMs = t.completed / (t.lastCompletedAt - t.startedAt);
  const remaining = s.done ? 0 : Math.max(0, s.budget - s.evaluated - (s.finishedInLoop ?? 0));
  const etaMs = Math.max(0, t.lastCompletedAt + remaining / perMs - now);
  return { perHour: perMs * 3_600_000, etaSeconds: etaMs / 1000 };
}

function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** One line per search: evaluated/budget, best accuracy, hypervolume, in flight, pace and ETA. */
export function formatSearch(r: SearchReport, now: number): string {
  const head = `  ${r.task.padEnd(15)}`;
  const s = r.progress;
  if (!s) {
    if (r.state === 'NOT_STARTED') return `${head} not started yet`;
    return `${head} ${r.state.toLowerCase()}: progress not read (${r.unreadable ?? 'no answer'})`;
  }
  const best = bestAccuracy(s.front);
  const pace = searchPace(s, now);
  const evaluated = s.evaluated + (s.finishedInLoop ?? 0);
  const parts = [
    `${evaluated}/${s.budget} evaluated`,
    `best accuracy ${best === undefined ? '-' : `${(100 * best).toFixed(1)}%`}`,
    `hypervolume ${s.hypervolume.toFixed(4)}`,
    `${s.inFlight} in flight`,
    s.done || r.state === 'COMPLETED'
      ? 'done'
      : pace
        ? `${pace.perHour.toFixed(1)}/h, ETA ${duration(pace.etaSeconds)}`
        : 'ETA after the first evaluation',
  ];
  if (s.paused) parts.push('paused');
  if (s.predictorError) {
    parts.push(
      `predictor CV error ${Object.entries(s.predictorError)
        .map(([m, e]) => `${m} ${(100 * e).toFixed(1)}%`)
        .join(' ')}`,
    );
  }
  return `${head} loop ${s.loop}, ${parts.join(', ')}${r.unreadable ? ` (${r.unreadable})` : ''}`;
}

export function formatCampaignReport(report: CampaignReport, now: number): string {
  const stage = report.stage
    ? `stage ${report.stage}`
    : `stage unknown (${report.stageUnreadable ?? 'not reported'})`;
  const running = report.activities.map(
    (a) => `  running ${a.type}${a.attempt > 1 ? ` (attempt ${a.attempt})` : ''}`,
  );
  return [
    `${report.workflowId}: ${report.status}, ${stage}`,
    ...report.searches.map((s) => formatSearch(s, now)),
    ...running,
  ].join('\n');
}
