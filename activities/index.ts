// Every activity the workers register, grouped by the task queue that runs it.
export { describeEnvironment } from './environment';
export {
  prepareCampaign,
  instatuneSuperNetwork,
  searchPropose,
  searchRecord,
  evaluateSubnet,
  suggestHeuristics,
  writeCampaignReport,
} from './campaign';
export { trainModel } from './train';
