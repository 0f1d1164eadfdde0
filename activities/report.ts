// The campaign's analysis: Temporal wrappers over src/campaign/report.ts.
import type { TaskName } from '../config/campaign';
import type { PreparedCampaign } from '../src/campaign/types';
import type { SubnetSpec } from '../src/model/types';
import { classified } from './failures';
import type * as report from '../src/campaign/report';
import { threadModule } from './threads';

// reading every evaluation, the analysis and the report's charts run in a thread (src/campaign/report.ts)
const REPORT = threadModule<typeof report>(require.resolve('../src/campaign/report'));

/** The heuristic architectures of the width analysis, one per task, to be evaluated as confirmation. */
export async function suggestHeuristics(req: {
  campaign: PreparedCampaign;
  superNetwork: string;
}): Promise<{ task: TaskName; subnet: SubnetSpec }[]> {
  return classified(() => REPORT.run('heuristicSubnets', req.campaign, req.superNetwork));
}

/** Writes results.json (every evaluation of the campaign) and the report next to it. */
export async function writeCampaignReport(req: {
  campaign: PreparedCampaign;
  superNetwork: string;
  heuristics: string[];
}): Promise<{ reportDir: string; resultsFile: string }> {
  return classified(() => REPORT.run('writeCampaignReport', req.campaign, req.superNetwork, req.heuristics));
}
