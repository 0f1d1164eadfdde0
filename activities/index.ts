// Every activity the workers register: one file per group, each a thin wrapper over src/.
export { describeEnvironment } from './environment';
export { prepareCampaign, instatuneSuperNetwork } from './prepare';
export { searchPropose, searchRecord } from './search';
export { evaluateSubnet } from './evaluate';
export { suggestHeuristics, writeCampaignReport } from './report';
export { trainModel } from './train';
