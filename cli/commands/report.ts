import { resolve } from 'node:path';
import type { Command } from 'commander';
import { analyseCampaign, CampaignResultsError, loadCampaignResults, writeReport } from '../../src/analysis';
import { UsageError } from '../errors';

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
      let results;
      try {
        results = loadCampaignResults(campaign);
      } catch (err) {
        if (err instanceof CampaignResultsError) throw new UsageError(err.message);
        throw err;
      }
      const analysis = analyseCampaign(results, { selectionTolerance: tolerance / 100 });
      const report = await writeReport(analysis, resolve(opts.out));
      console.log(`report: ${report.html}`);
      console.log(`${report.files.length} files (${report.charts.length} charts) in ${report.dir}`);
    });
}
