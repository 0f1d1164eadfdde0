/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSubnet } from '../../src/model/runtime';
import type { SubnetSpec } from '../../src/model/types';
import { projectRoot, requireTorchPython } from '../../src/toolchain';
import { seededRandom } from '../fixtures/model/random-checkpoint';

/**
 * Parity of the ONNX export with the PyTorch reference (trainer/llama_nas_trainer): random tiny
 * checkpoints written by the trainer, full network and several sub-networks, max abs logit
 * difference <= 1e-4 in float32.
 */
const TOLERANCE = 1e-4;

interface Case {
  name: string;
  config: Record<string, unknown>;
  dtype: 'float32' | 'bfloat16';
  subnets: (SubnetSpec | null)[];
}

const base = {
  vocab_size: 97,
  hidden_size: 48,
  intermediate_size: 64,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
};
const CASES: Case[] = [
  {
    name: 'GQA, untied embeddings',
    config: { ...base, num_hidden_layers: 4, num_attention_heads: 6, num_key_value_heads: 2 },
    dtype: 'float32',
    subnets: [
      null,
      { layers: 4, intermediate: [64, 32, 17, 64] },
      { layers: 3, intermediate: [32, 64, 1, 64] },
      { layers: 1, intermediate: [5] },
    ],
  },
  {
    name: 'multi-head attention, tied embeddings, bfloat16 weights',
    config: { ...base, num_hidden_layers: 3, num_attention_heads: 4, tie_word_embeddings: true },
    dtype: 'bfloat16',
    subnets: [null, { layers: 2, intermediate: [64, 24] }, { layers: 1, intermediate: [32, 64, 64] }],
  },
  {
    name: 'single key/value head, explicit head_dim, rope_theta 500000, tied',
    config: {
      ...base,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 1,
      head_dim: 16,
      rope_theta: 500000,
      tie_word_embeddings: true,
    },
    dtype: 'float32',
    subnets: [null, { layers: 2, intermediate: [8, 64] }],
  },
];

describe('ONNX sub-networks match the PyTorch reference', () => {
  let dir: string;
  let python: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'parity-'));
    python = requireTorchPython();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const trainer = (args: string[]): string =>
    execFileSync(python, ['-m', ...args], {
      cwd: join(projectRoot, 'trainer'),
      env: { ...process.env, PYTHONPATH: join(projectRoot, 'trainer') },
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });

  CASES.forEach((c, caseIndex) => {
    it(`${c.name}: full network and ${c.subnets.length - 1} sub-networks`, async () => {
      const model = join(dir, `model-${caseIndex}`);
      const cfgFile = join(dir, `config-${caseIndex}.json`);
      writeFileSync(cfgFile, JSON.stringify(c.config));
      trainer([
        'llama_nas_trainer.random_init',
        '--config',
        cfgFile,
        '--out',
        model,
        '--seed',
        String(100 + caseIndex),
        '--std',
        '0.2',
        '--dtype',
        c.dtype,
      ]);
      const rand = seededRandom(caseIndex + 1);
      const vocab = c.config.vocab_size as number;
      const rows = [1, 9, 31, 64].map((n) => Array.from({ length: n }, () => Math.floor(rand() * vocab)));
      const tokensFile = join(dir, `tokens-${caseIndex}.json`);
      writeFileSync(tokensFile, JSON.stringify(rows));
      const layers = c.config.num_hidden_layers as number;
      const width = c.config.intermediate_size as number;
      const diffs: string[] = [];
      for (const spec of c.subnets) {
        const args = ['llama_nas_trainer.reference', '--model', model, '--tokens', `@${tokensFile}`];
        if (spec) args.push('--subnet', JSON.stringify(spec));
        const reference = (JSON.parse(trainer(args)) as { logits: number[][][] }).logits;
        const session = await openSubnet(
          model,
          spec ?? { layers, intermediate: Array<number>(layers).fill(width) },
          { cacheDir: join(dir, 'cache'), threads: 2 },
        );
        try {
          const logits = await session.logits(rows);
          let worst = 0;
          let spread = 0;
          rows.forEach((row, r) => {
            expect(logits[r]!.length).toBe(row.length * vocab);
            reference[r]!.forEach((pos, i) =>
              pos.forEach((value, j) => {
                worst = Math.max(worst, Math.abs(value - logits[r]![i * vocab + j]!));
                spread = Math.max(spread, Math.abs(value));
              }),
            );
          });
          // the check means something only if the logits are not all near zero
          expect(spread).toBeGreaterThan(0.5);
          diffs.push(`${spec ? JSON.stringify(spec) : 'full'}: ${worst.toExponential(2)}`);
          expect(worst).toBeLessThanOrEqual(TOLERANCE);
          // scorePacked runs the head only at scored positions (every third one here): the same
          // log-probabilities as PyTorch's log-softmax of its full logits
          const scoredRows = rows.map((row) => ({
            tokens: row,
            positions: row.map((_, i) => i),
            segments: row.map(() => 0),
            targets: row.map((_, i) => (i % 3 === 0 ? row[(i + 1) % row.length]! : -1)),
          }));
          const scores = await session.scorePacked(scoredRows);
          let worstLogp = 0;
          scoredRows.forEach((row, r) =>
            row.targets.forEach((t, i) => {
              if (t < 0) return expect(scores[r]![i]).toBeNaN();
              const ref = reference[r]![i]!;
              const max = Math.max(...ref);
              const lse = max + Math.log(ref.reduce((acc, x) => acc + Math.exp(x - max), 0));
              worstLogp = Math.max(worstLogp, Math.abs(scores[r]![i]! - (ref[t]! - lse)));
            }),
          );
          expect(worstLogp).toBeLessThanOrEqual(TOLERANCE);
        } finally {
          await session.close();
        }
      }
      console.log(`${c.name}: max abs logit difference ${diffs.join(', ')}`);
    });
  });
});
