// The analysis and report of a campaign's results: see README.md in this folder.
export * from './types';
export { percentile, upperPercentile, optionProbabilities } from './stats';
export { paretoFront, hypervolume2d } from './pareto';
export {
  analyseCampaign,
  heuristicArchitecture,
  searchPopulation,
  widthsKey,
  DEFINITIONS,
  type Analysis,
  type AnalysisOptions,
  type Front,
  type FrontSpace,
  type PointRow,
  type SummaryRow,
  type HeuristicRow,
  type HypervolumeRow,
  type LayerProbabilityRow,
  type WidthProbabilityRow,
} from './analyse';
export { chartSpecs, renderCharts, type ChartSpec } from './charts';
export { writeReport, summaryWide, type ReportFiles, type ReportArtifact } from './report';
export { loadCampaignResults, resolveResultsPath, RESULTS_FILE } from './load';
