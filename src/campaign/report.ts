import type { TaskName } from '../../config/campaign';
import { analyseCampaign, writeReport } from '../analysis';
import type { SubnetSpec } from '../model/types';
import { writeJsonAtomic } from '../fsutil';
import { campaignEvaluations } from './evaluations';
import { reportDir, resultsFile } from './layout';
import { buildCampaignResults, suggestHeuristicSubnets } from './results';
import { searchLoops } from './search';
import type { PreparedCampaign } from './types';

/** The heuristic architectures of the width analysis, one per task, to be evaluated as confirmation. */
export async function heuristicSubnets(
  campaign: PreparedCampaign,
  superNetwork: string,
): Promise<{ task: TaskName; subnet: SubnetSpec }[]> {
  return suggestHeuristicSubnets(
    await campaignEvaluations(campaign, superNetwork),
    campaign.tasks.map((t) => t.name),
  );
}

/** Writes results.json (every evaluation of the campaign) and the report next to it. */
export async function writeCampaignReport(
  campaign: PreparedCampaign,
  superNetwork: string,
  heuristics: string[],
): Promise<{ reportDir: string; resultsFile: string }> {
  const loops = await searchLoops(campaign, superNetwork);
  const evaluations = await campaignEvaluations(campaign, superNetwork);
  const results = buildCampaignResults(campaign, superNetwork, evaluations, heuristics, loops);
  const file = resultsFile(campaign.campaignDir);
  writeJsonAtomic(file, results);
  const dir = reportDir(campaign.campaignDir);
  await writeReport(analyseCampaign(results), dir);
  return { reportDir: dir, resultsFile: file };
}
