// The LINAS loop's steps over the state files: Temporal wrappers over src/campaign/search.ts.
import type { Proposal, ProposeRequest, RecordRequest, SearchProgress } from '../src/campaign/types';
import { classified } from './failures';
import type * as search from '../src/campaign/search';
import { threadModule } from './threads';

// predictor fits and NSGA-II generations run in a thread (src/campaign/search.ts)
const SEARCH = threadModule<typeof search>(require.resolve('../src/campaign/search'));

/** The next batch of the LINAS loop. Idempotent: a retry finds the state file it wrote. */
export async function searchPropose(req: ProposeRequest): Promise<Proposal> {
  return classified(() => SEARCH.run('proposeStep', req));
}

/** Records a loop's real evaluations. Idempotent: the recorded state is written once. */
export async function searchRecord(req: RecordRequest): Promise<SearchProgress> {
  return classified(() => SEARCH.run('recordStep', req));
}
