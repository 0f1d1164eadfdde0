import { analyseCampaign, loadCampaignResults, writeReport } from '../src/analysis';

/** Analyses a campaign folder's results.json and writes the report; returns the HTML file's path. */
export async function writeCampaignFolderReport(campaign: string, outDir: string): Promise<string> {
  const files = await writeReport(analyseCampaign(loadCampaignResults(campaign)), outDir);
  return files.html;
}
