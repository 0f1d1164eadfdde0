import { resolve } from 'node:path';
import type { Command } from 'commander';
import { analyseCampaign, CampaignResultsError, loadCampaignResults, writeReport } from '../../src/analysis';
import { UsageError } from '../errors';

/**
 * The report of CAMPAIGN (a results JSON file, or a campaign folder holding results.json)
 * written into `out`; returns a line naming the report. Bad input is a UsageError.
 */
export async function writeCampaignFolderReport(
  campaign: string,
  out: string,
  selectionTolerance = 0.01,
): Promise<string> {
  let results;
  try {
    results = loadCampaignResults(campaign);
  } catch (err) {
    if (err instanceof CampaignResultsError) throw new UsageError(err.message);
    throw err;
  }
  const report = await writeReport(analyseCampaign(results, { selectionTolerance }), resolve(out));
  return `report: ${report.html} (${report.files.length} files, ${report.charts.length} charts, in ${report.dir})`;
}

/**
 * `llama-nas report CAMPAIGN --out DIR`: the analysis of a campaign's results (a results.json
 * file, or a campaign folder holding one) as CSV/JSON tables, fronts, SVG charts and one
 * self-contained report.html.
 */
export function register(program: Command): void {
  program
    .command('report')
    .description(
      "analyse a campaign's results: Pareto fronts, layer and width probabilities, tables, an HTML report",
    )
    .argument('<campaign>', 'a campaign results JSON file, or a campaign folder containing results.json')
    .requiredOption('--out <dir>', 'folder to write the report into (created if missing)')
    .option('--tolerance <points>', 'accuracy points a "smallest within tolerance" selection may lose', '1')
    .action(async (campaign: string, opts: { out: string; tolerance: string }) => {
      const tolerance = Number(opts.tolerance);
      if (!Number.isFinite(tolerance) || tolerance < 0) {
        throw new UsageError(
          `--tolerance must be a non-negative number of accuracy points, got "${opts.tolerance}"`,
        );
      }
      console.log(await writeCampaignFolderReport(campaign, opts.out, tolerance / 100));
    });
}
