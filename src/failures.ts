// The failure classes shared by the activities, the workflows' retry policies and the trainer
// bridge. No imports: the workflow bundle takes this module as it is.

/**
 * Failure types a retry cannot mend: the input is wrong (config, data, checkpoint), whether the
 * TypeScript side found it or the trainer did. Everything else (a dead GPU, out of memory, a
 * lost worker) is retried.
 */
export const NON_RETRYABLE_FAILURES = [
  'ConfigError',
  'BadData',
  'BadCheckpoint',
  'bad_config',
  'bad_data',
] as const;
export type NonRetryableFailure = (typeof NON_RETRYABLE_FAILURES)[number];

export function isNonRetryable(type: string): type is NonRetryableFailure {
  return (NON_RETRYABLE_FAILURES as readonly string[]).includes(type);
}

/** The failure type of a library error, by the error's name; absent: retryable. */
export const FAILURE_OF_ERROR: Readonly<Record<string, NonRetryableFailure>> = {
  ConfigError: 'ConfigError',
  SearchSpaceError: 'ConfigError',
  SubnetSpecError: 'ConfigError',
  SettingsError: 'ConfigError',
  ToolchainError: 'ConfigError',
  EvalDataError: 'BadData',
  ModelFormatError: 'BadCheckpoint',
};
