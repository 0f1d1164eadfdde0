/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EvalDataError,
  evaluatePrepared,
  evaluateSubnet,
  keepSessionsOpen,
  loadTask,
  onnxBackend,
  prepareTask,
  type EvaluationStage,
  type ScoringBackend,
} from '../../../src/eval';
import { openSubnet } from '../../../src/model/runtime';
import { SubnetSpecError } from '../../../src/model/subnet';
import { loadTokenizer } from '../../../src/model/tokenizer';
import type { SubnetSpec } from '../../../src/model/types';
import { tinyModelFolder } from '../../helpers/tiny-model';
import { ReferenceScorer } from './helpers/reference-scorer';

const FIX = join(__dirname, '..', '..', 'fixtures', 'eval');

/** A second backend behind the seam: the reference scorer, with a log of what it was asked to open and close. */
function referenceBackend() {
  const log = { opened: [] as { subnet: SubnetSpec; quant?: string }[], closed: 0 };
  const backend: ScoringBackend = {
    name: 'reference',
    numerics: { backend: 'reference' },
    openSubnet: async (_modelDir, subnet, { quant }) => {
      log.opened.push({ subnet, quant });
      const scorer = new ReferenceScorer(128, 300);
      return {
        maxLength: scorer.maxLength,
        scorePacked: (rows) => scorer.scorePacked(rows),
        close: async () => void log.closed++,
      };
    },
    close: async () => undefined,
  };
  return { backend, log };
}

describe('evaluateSubnet, the evaluation pipeline', () => {
  const tiny = tinyModelFolder('eval-pipeline-', { vocabSize: 300, numLayers: 2 }, 5);

  it('scores on ONNX exactly what the steps taken by hand score', async () => {
    const subnet = { layers: 2, intermediate: [48, 24] };
    const { result, subnet: evaluated } = await evaluateSubnet(
      { modelDir: tiny.model, subnet, task: { name: 'arc_easy', data: join(FIX, 'arc'), shots: 1 } },
      { backend: onnxBackend({ threads: 1 }) },
    );
    const prepared = prepareTask(
      loadTask('arc_easy', join(FIX, 'arc'), { fewshot: true }),
      await loadTokenizer(tiny.model),
      { shots: 1 },
    );
    const session = await openSubnet(tiny.model, subnet, { threads: 1 });
    try {
      const byHand = await evaluatePrepared(prepared, session);
      expect(result.items.map((i) => i.loglikelihoods)).toEqual(byHand.items.map((i) => i.loglikelihoods));
      expect(result.results).toEqual(byHand.results);
    } finally {
      await session.close();
    }
    expect(evaluated).toEqual(subnet);
  });

  it('opens the sub-network through the backend, checked, with its quantization, and closes it', async () => {
    const { backend, log } = referenceBackend();
    const stages: EvaluationStage[] = [];
    const task = { name: 'winogrande' as const, data: join(FIX, 'winogrande'), shots: 1 };
    const { result } = await evaluateSubnet(
      // one width per base layer: canonicalised to the active layer's
      { modelDir: tiny.model, subnet: { layers: 1, intermediate: [24, 48] }, task },
      { backend, quant: 'int8', onProgress: (stage) => void stages.push(stage) },
    );
    expect(log.opened).toEqual([{ subnet: { layers: 1, intermediate: [24] }, quant: 'int8' }]);
    expect(log.closed).toBe(1);
    expect(result.nSamples).toBe(3);
    expect(stages[0]).toBe('preparing');
    expect(stages.at(-1)).toBe('scoring');

    // the prompts were tokenized once: a second evaluation of the task only scores
    stages.length = 0;
    const again = await evaluateSubnet(
      { modelDir: tiny.model, task },
      { backend, onProgress: (s) => void stages.push(s) },
    );
    expect(new Set(stages)).toEqual(new Set(['scoring']));
    expect(log.opened[1]).toEqual({ subnet: { layers: 2, intermediate: [48, 48] }, quant: undefined });
    expect(again.result.items.map((i) => i.id)).toEqual(result.items.map((i) => i.id));
  });

  it('reads a data file again once it changed', async () => {
    const data = join(tiny.dir, 'winogrande');
    cpSync(join(FIX, 'winogrande'), data, { recursive: true });
    const { backend } = referenceBackend();
    const task = { name: 'winogrande' as const, data };
    const before = await evaluateSubnet({ modelDir: tiny.model, task }, { backend });
    const dev = join(data, 'winogrande_1.1', 'dev.jsonl');
    writeFileSync(dev, readFileSync(dev, 'utf8').trim().split('\n').slice(0, 2).join('\n') + '\n');
    const after = await evaluateSubnet({ modelDir: tiny.model, task }, { backend });
    expect(before.result.nSamples).toBe(3);
    expect(after.result.nSamples).toBe(2);
  });

  it('checks the data before the checkpoint, and the sub-network against it, naming the source', async () => {
    const { backend, log } = referenceBackend();
    await expect(
      evaluateSubnet(
        {
          modelDir: join(tiny.dir, 'no-model'),
          task: { name: 'winogrande', data: join(FIX, 'bad', 'winogrande') },
        },
        { backend },
      ),
    ).rejects.toBeInstanceOf(EvalDataError);
    const wide = evaluateSubnet(
      {
        modelDir: tiny.model,
        subnet: { layers: 2, intermediate: [48, 96] },
        subnetSource: 'wide.json',
        task: { name: 'winogrande', data: join(FIX, 'winogrande') },
      },
      { backend },
    );
    await expect(wide).rejects.toBeInstanceOf(SubnetSpecError);
    await expect(wide).rejects.toThrow(/wide\.json: intermediate\[1\] is 96/);
    expect(log.opened).toEqual([]);
  });

  it('keepSessionsOpen opens each sub-network once until it is closed', async () => {
    const { backend: inner, log } = referenceBackend();
    const backend = keepSessionsOpen(inner);
    const task = { name: 'winogrande' as const, data: join(FIX, 'winogrande') };
    const first = await evaluateSubnet({ modelDir: tiny.model, task }, { backend, path: 'fast' });
    const naive = await evaluateSubnet({ modelDir: tiny.model, task }, { backend, path: 'naive' });
    expect(log.opened).toHaveLength(1);
    expect(log.closed).toBe(0);
    expect(naive.result.items.map((i) => i.loglikelihoods)).toEqual(
      first.result.items.map((i) => i.loglikelihoods),
    );
    await backend.close();
    expect(log.closed).toBe(1);
  });
});
