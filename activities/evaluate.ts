// Evaluating a sub-network: a Temporal wrapper over src/campaign/evaluations.ts.
import type { EvaluationRequest, EvaluationResult } from '../src/campaign/types';
import { log } from '@temporalio/activity';
import { attemptFailure, classified } from './failures';
import { backendName } from '../src/campaign/evaluations';
import type * as evaluations from '../src/campaign/evaluations';
import { threadModule } from './threads';

const EVALUATIONS = threadModule<typeof evaluations>(require.resolve('../src/campaign/evaluations'));

/**
 * One real evaluation of a sub-network on a task, or its cached result. Heartbeats its
 * progress; the result is cached before it is returned, so a retry or a rerun never pays twice.
 */
export async function evaluateSubnet(req: EvaluationRequest): Promise<EvaluationResult> {
  return classified(async () => {
    const injected = attemptFailure(req.faultInjection);
    // export, weight conversion, tokenizing and scoring run in a thread (src/campaign/evaluations.ts evaluateRequest)
    // the torch backend's scoring process (one super-network in device memory) lives in one thread
    if (backendName(req) === 'torch') {
      if (injected) {
        // as a lost device would, the failure takes the scoring process with it: the retry starts a new one
        const pid = await EVALUATIONS.runPinned('torch', 'killScoringProcessForTest', req);
        log.warn(`injected device failure: SIGKILLed the scoring process (pid ${pid ?? 'none'})`);
        throw injected;
      }
      return EVALUATIONS.runPinned('torch', 'evaluateRequest', req);
    }
    if (injected) throw injected;
    return EVALUATIONS.run('evaluateRequest', req);
  });
}
