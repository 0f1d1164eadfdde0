export { probeWorkflow } from './probe';
export { llamaNasCampaign } from './campaign';
export { linasSearch } from './search';
export { trainWorkflow } from './train';
