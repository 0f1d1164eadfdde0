// The campaign's analysis: Temporal wrappers over src/campaign/report.ts.
import type { TaskName } from '../config/campaign';
import { heuristicSubnets, writeCampaignReport as writeReport } from '../src/campaign/report';
import type { PreparedCampaign } from '../src/campaign/types';
import type { SubnetSpec } from '../src/model/types';
import { classified } from './failures';

/** The heuristic architectures of the width analysis, one per task, to be evaluated as confirmation. */
export async function suggestHeuristics(req: {
  campaign: PreparedCampaign;
  superNetwork: string;
}): Promise<{ task: TaskName; subnet: SubnetSpec }[]> {
  return classified(() => heuristicSubnets(req.campaign, req.superNetwork));
}

/** Writes results.json (every evaluation of the campaign) and the report next to it. */
export async function writeCampaignReport(req: {
  campaign: PreparedCampaign;
  superNetwork: string;
  heuristics: string[];
}): Promise<{ reportDir: string; resultsFile: string }> {
  return classified(() => writeReport(req.campaign, req.superNetwork, req.heuristics));
}
