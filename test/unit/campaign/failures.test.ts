import { ApplicationFailure } from '@temporalio/common';
import { classify } from '../../../activities/failures';
import { ConfigError } from '../../../config/campaign';
import { EvalDataError } from '../../../src/eval';
import { isNonRetryable } from '../../../src/failures';
import { ModelFormatError } from '../../../src/model/config';
import { SubnetSpecError } from '../../../src/model/subnet';
import { TRAINER_ERROR_TYPES } from '../../../src/trainer/protocol';
import { NON_RETRYABLE } from '../../../workflows/options';

describe('failure classes', () => {
  it('bad input fails without retry, under the type the workflows do not retry', () => {
    const cases: [Error, string][] = [
      [new ConfigError('campaign config: field x: bad'), 'ConfigError'],
      [new SubnetSpecError('spec: layers is 9'), 'ConfigError'],
      [new EvalDataError('a.jsonl:3: not JSON'), 'BadData'],
      [new ModelFormatError('config.json: field hidden_size: bad'), 'BadCheckpoint'],
    ];
    for (const [err, type] of cases) {
      const failure = classify(err) as ApplicationFailure;
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect([failure.type, failure.nonRetryable, failure.message]).toEqual([type, true, err.message]);
      expect(NON_RETRYABLE).toContain(type);
    }
  });

  it('anything else is left as it is, to be retried', () => {
    const crash = new Error('device lost');
    expect(classify(crash)).toBe(crash);
  });

  it("the trainer's bad config and bad data are final, its device failures and out-of-memory are not", () => {
    expect(TRAINER_ERROR_TYPES.filter(isNonRetryable)).toEqual(['bad_config', 'bad_data']);
    expect(NON_RETRYABLE).toEqual(expect.arrayContaining(['bad_config', 'bad_data']));
  });
});
