// The LINAS loop's steps over the state files: Temporal wrappers over src/campaign/search.ts.
import { proposeStep, recordStep } from '../src/campaign/search';
import type { Proposal, ProposeRequest, RecordRequest, SearchProgress } from '../src/campaign/types';
import { classified } from './failures';

/** The next batch of the LINAS loop. Idempotent: a retry finds the state file it wrote. */
export async function searchPropose(req: ProposeRequest): Promise<Proposal> {
  return classified(() => proposeStep(req));
}

/** Records a loop's real evaluations. Idempotent: the recorded state is written once. */
export async function searchRecord(req: RecordRequest): Promise<SearchProgress> {
  return classified(() => recordStep(req));
}
