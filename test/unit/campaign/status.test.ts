import {
  bestAccuracy,
  formatCampaignReport,
  searchPace,
  type CampaignReport,
  type SearchReport,
} from '../../../cli/campaign-status';
import type { SearchStatus } from '../../../workflows/search';

const HOUR = 3_600_000;

function search(overrides: Partial<SearchStatus> = {}): SearchStatus {
  return {
    task: 'arc_easy',
    loop: 2,
    evaluated: 20,
    budget: 100,
    done: false,
    hypervolume: 0.3125,
    front: [
      {
        key: 'a',
        subnet: { layers: 2, intermediate: [8, 8] },
        objectives: { accuracy: 0.41, parameters: 10 },
      },
      {
        key: 'b',
        subnet: { layers: 3, intermediate: [8, 8, 8] },
        objectives: { accuracy: 0.47, parameters: 12 },
      },
    ],
    paused: false,
    inFlight: 2,
    finishedInLoop: 4,
    timing: { startedAt: 0, completed: 24, lastCompletedAt: 2 * HOUR },
    ...overrides,
  };
}

describe('campaign status', () => {
  it('takes the best accuracy of the front, if accuracy is an objective', () => {
    expect(bestAccuracy(search().front)).toBe(0.47);
    expect(
      bestAccuracy([{ key: 'a', subnet: { layers: 1, intermediate: [8] }, objectives: { parameters: 3 } }]),
    ).toBe(undefined);
  });

  it('measures the pace from finished evaluations and counts the ETA from the last one', () => {
    // 24 in 2 h: 12 per hour; 100 - 20 recorded - 4 finished = 76 left: 76/12 h after the last one
    const pace = searchPace(search(), 2 * HOUR + 0.5 * HOUR)!;
    expect(pace.perHour).toBeCloseTo(12, 9);
    expect(pace.etaSeconds).toBeCloseTo((76 / 12 - 0.5) * 3600, 6);
    expect(searchPace(search({ timing: { startedAt: 0, completed: 0 } }), HOUR)).toBeUndefined();
    expect(searchPace(search({ timing: undefined }), HOUR)).toBeUndefined();
    expect(searchPace(search({ done: true }), 2 * HOUR)!.etaSeconds).toBe(0);
  });

  it('shows every search, and says why one could not be read', () => {
    const searches: SearchReport[] = [
      { task: 'arc_easy', workflowId: 'c/search/arc_easy', state: 'RUNNING', progress: search() },
      {
        task: 'mmlu',
        workflowId: 'c/search/mmlu',
        state: 'RUNNING',
        unreadable: 'query not answered: ServiceError: deadline exceeded',
      },
      { task: 'winogrande', workflowId: 'c/search/winogrande', state: 'NOT_STARTED' },
    ];
    const report: CampaignReport = {
      workflowId: 'c',
      status: 'RUNNING',
      stage: 'searching',
      activities: [{ type: 'evaluateSubnet', attempt: 2 }],
      searches,
    };
    const lines = formatCampaignReport(report, 2 * HOUR).split('\n');
    expect(lines[0]).toBe('c: RUNNING, stage searching');
    expect(lines[1]).toMatch(
      /arc_easy +loop 2, 24\/100 evaluated, best accuracy 47\.0%, hypervolume 0\.3125, 2 in flight, 12\.0\/h, ETA 6\.3 h/,
    );
    expect(lines[2]).toMatch(
      /mmlu +running: progress not read \(query not answered: ServiceError: deadline exceeded\)/,
    );
    expect(lines[3]).toMatch(/winogrande +not started yet/);
    expect(lines[4]).toBe('  running evaluateSubnet (attempt 2)');
    const unknown = formatCampaignReport(
      { ...report, stage: undefined, stageUnreadable: 'status query not answered: timeout', searches: [] },
      0,
    );
    expect(unknown.split('\n')[0]).toBe('c: RUNNING, stage unknown (status query not answered: timeout)');
  });
});
