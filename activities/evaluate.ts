// Evaluating a sub-network: a Temporal wrapper over src/campaign/evaluations.ts.
import { Context } from '@temporalio/activity';
import { evaluateRequest } from '../src/campaign/evaluations';
import type { EvaluationRequest, EvaluationResult } from '../src/campaign/types';
import { classified, failIfInjected } from './failures';

/**
 * One real evaluation of a sub-network on a task, or its cached result. Heartbeats its
 * progress; the result is cached before it is returned, so a retry or a rerun never pays twice.
 */
export async function evaluateSubnet(req: EvaluationRequest): Promise<EvaluationResult> {
  return classified(() => {
    failIfInjected(req.faultInjection);
    const ctx = Context.current();
    return evaluateRequest(req, { signal: ctx.cancellationSignal, onProgress: (p) => ctx.heartbeat(p) });
  });
}
