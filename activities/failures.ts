import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import { FAILURE_OF_ERROR } from '../src/failures';

/** Turns a library error into a Temporal failure: non-retryable for bad input, as it is otherwise. */
export function classify(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof Error) {
    const type = FAILURE_OF_ERROR[err.name];
    if (type) return ApplicationFailure.nonRetryable(err.message, type);
  }
  return err;
}

/** Runs an activity body, classifying whatever it throws. */
export async function classified<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw classify(err);
  }
}

/** Tests only: a hash of the attempt's identity decides, so a rerun fails the same attempts. */
export function injectedFailure(
  fault: { failureRate: number; seed: number } | undefined,
  identity: string,
): ApplicationFailure | undefined {
  if (!fault || fault.failureRate <= 0) return undefined;
  let h = 0x811c9dc5 ^ fault.seed;
  for (let i = 0; i < identity.length; i++) h = Math.imul(h ^ identity.charCodeAt(i), 0x01000193);
  // murmur3's finaliser: identities that differ in their last character (the attempt) land far apart
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  if ((h >>> 0) / 2 ** 32 >= fault.failureRate) return undefined;
  return ApplicationFailure.retryable(`injected device failure (${identity})`, 'DeviceFailure');
}

/** Tests only: this attempt's injected device failure, if the campaign's fault injection picks it. */
export function attemptFailure(
  fault: { failureRate: number; seed: number } | undefined,
): ApplicationFailure | undefined {
  const info = activityInfo();
  return injectedFailure(fault, `${info.workflowExecution?.workflowId}/${info.activityId}/${info.attempt}`);
}

/** Tests only: throws this attempt's injected device failure, if the campaign's fault injection picks it. */
export function failIfInjected(fault: { failureRate: number; seed: number } | undefined): void {
  const failure = attemptFailure(fault);
  if (failure) throw failure;
}
