export { probeWorkflow } from './probe';
export { trainWorkflow } from './train';
