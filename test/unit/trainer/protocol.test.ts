import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineSplitter, TrainerProtocolError, isErrorEvent, parseTrainerLine } from '../../../src/trainer/protocol';
import { finishedRun, latestCheckpoint } from '../../../src/trainer/process';

describe('trainer progress protocol', () => {
  it('parses each event type', () => {
    const step = parseTrainerLine(
      '{"type": "step", "step": 3, "total_steps": 10, "loss": 2.5, "lr": 0.001, "tokens_per_s": 812.5, "epoch": 0.3, "subnet": {"layers": 2, "intermediate": [16, 32]}}',
    );
    expect(step).toMatchObject({ type: 'step', step: 3, subnet: { layers: 2 } });
    expect(parseTrainerLine('{"type": "checkpoint", "step": 4, "path": "/o/checkpoints/step-00000004.pt"}')).toMatchObject({
      type: 'checkpoint',
    });
    const err = parseTrainerLine('{"type": "bad_data", "message": "a.json:3: record has no \\"output\\" string"}');
    expect(err && isErrorEvent(err)).toBe(true);
  });

  it('skips lines that are not JSON objects and rejects unknown events', () => {
    expect(parseTrainerLine('UserWarning: something')).toBeUndefined();
    expect(parseTrainerLine('')).toBeUndefined();
    expect(() => parseTrainerLine('{"type": "step", "step": "three"}')).toThrow(TrainerProtocolError);
    expect(() => parseTrainerLine('{"type": "exploded", "message": "x"}')).toThrow(TrainerProtocolError);
  });

  it('splits chunks into whole lines', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":')).toEqual([]);
    expect(s.push('1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.push(':2}\n\n')).toEqual(['{"b":2}', '']);
    expect(s.push('tail')).toEqual([]);
    expect(s.end()).toEqual(['tail']);
  });

  it('finds the newest checkpoint and a finished run in an output folder', () => {
    const out = mkdtempSync(join(tmpdir(), 'train-out-'));
    expect(latestCheckpoint(out)).toBeUndefined();
    mkdirSync(join(out, 'checkpoints'));
    const ck = join(out, 'checkpoints', 'step-00000006.pt');
    writeFileSync(join(out, 'checkpoints', 'latest.json'), JSON.stringify({ step: 6, path: ck }));
    expect(latestCheckpoint(out)).toBeUndefined(); // the file it names is missing
    writeFileSync(ck, 'x');
    expect(latestCheckpoint(out)).toEqual({ step: 6, path: ck });
    expect(finishedRun(out)).toBeUndefined();
    const done = { type: 'done', out, steps: 6, loss: 1.5, fingerprint: 'abc', mode: 'pretrain', checkpoint: ck };
    writeFileSync(join(out, 'train_result.json'), JSON.stringify(done, null, 2));
    expect(finishedRun(out)).toEqual(done);
  });
});
