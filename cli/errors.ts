/** An error that is the user's to fix (bad flag, bad file): printed without a stack, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = 2;
}
