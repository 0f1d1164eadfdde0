/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSubnet } from '../../src/model/runtime';
import { loadTokenizer } from '../../src/model/tokenizer';
import type { SubnetSpec } from '../../src/model/types';
import { projectRoot, requireTorchPython } from '../../src/toolchain';
import { describeRealModel, realModelAndTempDir } from '../helpers/real-model';

/**
 * SmolLM2-135M-Instruct imported from its GGUF: the ONNX sub-networks give the log-probabilities
 * of an independent forward (the trainer's PyTorch model, reading the same Hugging Face folder)
 * (in float64, as the exact value the float32 graph is measured against) within 1e-4, for the full network and three sub-networks, on one text: every next-token
 * log-probability, and the whole log-softmax at the last position.
 */
jest.setTimeout(900_000);
const TOLERANCE = 1e-4;
const TEXT =
  'The capital of France is Paris. In 1889, the Eiffel Tower was finished;\n' +
  'it is 330 metres tall — “a lattice of iron”.';

const REFERENCE = `
import json, sys, torch
from llama_nas_trainer.hf_io import load_model
model = load_model(sys.argv[1], dtype=torch.float64)
tokens = json.loads(sys.argv[2])
out = []
with torch.no_grad():
    for spec in json.loads(sys.argv[3]):
        logits = model(torch.tensor([tokens]), spec["layers"], spec["intermediate"])[0]
        lp = torch.log_softmax(logits, dim=-1)
        nxt = [float(lp[i, tokens[i + 1]]) for i in range(len(tokens) - 1)]
        out.append({"next": nxt, "last": lp[-1].tolist()})
print(json.dumps(out))
`;

function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (x) => x - lse);
}

describeRealModel('SmolLM2-135M (imported from GGUF): ONNX against PyTorch', () => {
  const real = realModelAndTempDir('real-parity-');

  it('log-probabilities within 1e-4: full network and three sub-networks', async () => {
    const { model, dir } = real;
    const tokenizer = await loadTokenizer(model.dir);
    const tokens = tokenizer.encode(TEXT);
    expect(tokens.length).toBeGreaterThan(30);
    const w = (n: number, k: number): number[] => new Array<number>(n).fill(k);
    const specs: SubnetSpec[] = [
      { layers: 30, intermediate: w(30, 1536) },
      { layers: 24, intermediate: w(24, 1536).map((k, i) => (i % 2 ? 768 : k)) },
      { layers: 18, intermediate: w(18, 1024) },
      { layers: 30, intermediate: w(30, 512) },
    ];
    const specsFile = join(dir, 'specs.json');
    writeFileSync(specsFile, JSON.stringify(specs));
    const reference = JSON.parse(
      execFileSync(
        requireTorchPython(),
        ['-c', REFERENCE, model.dir, JSON.stringify(tokens), JSON.stringify(specs)],
        {
          cwd: join(projectRoot, 'trainer'),
          env: { ...process.env, PYTHONPATH: join(projectRoot, 'trainer'), OMP_NUM_THREADS: '2' },
          encoding: 'utf8',
          maxBuffer: 256 * 1024 * 1024,
        },
      ),
    ) as { next: number[]; last: number[] }[];
    const lines: string[] = [];
    const results: { worstNext: number; worstLast: number; meanNll: number }[] = [];
    for (const [s, spec] of specs.entries()) {
      const session = await openSubnet(model.dir, spec, { cacheDir: join(dir, 'cache'), threads: 2 });
      try {
        const [scored] = await session.scorePacked([
          {
            tokens,
            positions: tokens.map((_, i) => i),
            segments: tokens.map(() => 0),
            targets: tokens.map((_, i) => (i + 1 < tokens.length ? tokens[i + 1]! : -1)),
          },
        ]);
        const [logits] = await session.logits([tokens]);
        const vocab = 49152;
        const last = logSoftmax(logits!.subarray((tokens.length - 1) * vocab, tokens.length * vocab));
        let worstNext = 0;
        let worstLast = 0;
        reference[s]!.next.forEach((lp, i) => (worstNext = Math.max(worstNext, Math.abs(lp - scored![i]!))));
        reference[s]!.last.forEach((lp, j) => (worstLast = Math.max(worstLast, Math.abs(lp - last[j]!))));
        const total = reference[s]!.next.reduce((a, b) => a + b, 0);
        lines.push(
          `${spec.layers} layers, widths ${[...new Set(spec.intermediate)].join('/')}: text log-prob ${total.toFixed(2)}, max |diff| next tokens ${worstNext.toExponential(2)}, last log-softmax ${worstLast.toExponential(2)}`,
        );
        results.push({ worstNext, worstLast, meanNll: -total / reference[s]!.next.length });
        // a real model: the full network predicts this text far better than chance (ln 49152 = 10.8 per token)
      } finally {
        await session.close();
      }
    }
    console.log(`SmolLM2-135M parity (${tokens.length} tokens):\n${lines.join('\n')}`);
    for (const r of results) {
      // the log-probability of every token of the text
      expect(r.worstNext).toBeLessThanOrEqual(TOLERANCE);
      // the whole distribution at the last position, down to tokens of probability e^-30, where
      // float32 rounding of logits near 30 in magnitude is itself ~1e-5 relative
      expect(r.worstLast).toBeLessThanOrEqual(10 * TOLERANCE);
    }
    // a real model: the full network predicts this text far better than chance (ln 49152 = 10.8 nats per token)
    expect(results[0]!.meanNll).toBeLessThan(5);
  });
});
