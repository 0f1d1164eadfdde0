/**
 * @jest-environment ./test/fixtures/model/onnx-environment.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  evaluateSubnet,
  keepSessionsOpen,
  onnxBackend,
  type TaskName,
  type TaskResult,
} from '../../src/eval';
import { torchBackend, type TorchBackend } from '../../src/eval/torch-backend';
import type { SubnetSpec } from '../../src/model/types';
import { describeRealModel, realModel } from '../helpers/real-model';
import { writeTaskData } from '../helpers/real-model-data';

/**
 * Issue #19's parity on the real pre-trained model: SmolLM2-135M (imported from its GGUF) scored
 * through the evaluation pipeline by the PyTorch backend (float32 on the CPU, one scoring process
 * for every sub-network) and by the ONNX backend, on the five tasks, for the full network and
 * sub-networks with fewer layers, narrower MLPs and mixed per-layer widths: the same prediction
 * item by item and every choice's log-likelihood within 1e-3. Quantized likewise: the campaign's
 * int8 and int4 (weight-only: the export's codes and scales, float compute on both backends).
 */
jest.setTimeout(1_800_000);

const TOLERANCE = 1e-3;
const TASKS: TaskName[] = ['arc_easy', 'arc_challenge', 'mmlu', 'truthfulqa_mc1', 'winogrande'];
/** Rows per task: enough for both answer positions and all four answer letters, cheap on 2 cores. */
const LIMIT = 8;
const MIXED = [1536, 768, 384, 1152, 512, 1536, 256, 1024, 640, 1280, 768, 1536];

const FULL: SubnetSpec = { layers: 30, intermediate: new Array<number>(30).fill(1536) };
const NARROWER: SubnetSpec = { layers: 20, intermediate: new Array<number>(20).fill(768) };
const MIXED_SUBNET: SubnetSpec = { layers: 12, intermediate: MIXED };

const CASES: [string, SubnetSpec, 'none' | 'int8' | 'int4'][] = [
  ['full network (30 x 1536)', FULL, 'none'],
  ['fewer layers (12 x 1536)', { layers: 12, intermediate: new Array<number>(12).fill(1536) }, 'none'],
  ['narrower MLP (20 x 768)', NARROWER, 'none'],
  ['mixed per layer (12 layers, 256..1536)', MIXED_SUBNET, 'none'],
  ['full network (30 x 1536)', FULL, 'int8'],
  ['narrower MLP (20 x 768)', NARROWER, 'int8'],
  ['mixed per layer (12 layers, 256..1536)', MIXED_SUBNET, 'int8'],
  ['full network (30 x 1536)', FULL, 'int4'],
];

interface Parity {
  worst: number;
  choices: number;
  mismatches: string[];
}

function parity(torch: TaskResult, onnx: TaskResult): Parity {
  expect(torch.items.map((i) => i.id)).toEqual(onnx.items.map((i) => i.id));
  let worst = 0;
  let choices = 0;
  const mismatches: string[] = [];
  torch.items.forEach((item, i) => {
    const ref = onnx.items[i]!;
    expect(item.loglikelihoods).toHaveLength(ref.loglikelihoods.length);
    item.loglikelihoods.forEach((ll, c) => {
      expect(Number.isFinite(ll)).toBe(true);
      worst = Math.max(worst, Math.abs(ll - ref.loglikelihoods[c]!));
      choices++;
    });
    if (item.pred !== ref.pred) mismatches.push(`${item.id}: torch ${item.pred}, onnx ${ref.pred}`);
  });
  return { worst, choices, mismatches };
}

describeRealModel(
  'SmolLM2-135M: the torch backend = the ONNX backend on the five tasks (CPU, float32)',
  () => {
    let dir: string;
    let modelDir: string;
    let paths: Record<TaskName, string>;
    let torch: TorchBackend;

    beforeAll(async () => {
      modelDir = (await realModel()).dir;
      dir = mkdtempSync(join(tmpdir(), 'real-backends-'));
      paths = writeTaskData(join(dir, 'data'));
      torch = torchBackend({ device: 'cpu', dtype: 'float32', threads: 2 });
    });
    afterAll(async () => {
      await torch?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it.each(CASES)(
      '%s, quantization %s: the same predictions item by item, log-likelihoods within 1e-3',
      async (label, subnet, quant) => {
        // one ONNX session per sub-network for its five tasks (each evaluation would load its own)
        const onnx = keepSessionsOpen(onnxBackend({ threads: 2, cacheDir: join(dir, 'onnx') }));
        const lines: string[] = [];
        try {
          for (const name of TASKS) {
            const task = { name, data: paths[name], limit: LIMIT };
            const viaTorch = await evaluateSubnet({ modelDir, subnet, task }, { backend: torch, quant });
            const viaOnnx = await evaluateSubnet({ modelDir, subnet, task }, { backend: onnx, quant });
            expect(viaTorch.subnet).toEqual(subnet);
            expect(viaTorch.result.nSamples).toBe(LIMIT);
            const { worst, choices, mismatches } = parity(viaTorch.result, viaOnnx.result);
            lines.push(
              `  ${name}: worst |Δ| ${worst.toExponential(2)} over ${choices} choices, ` +
                `predictions ${mismatches.length === 0 ? 'equal' : `differ: ${mismatches.join('; ')}`}, ` +
                `acc ${viaTorch.result.results[name]!.acc.toFixed(3)} (torch) / ${viaOnnx.result.results[name]!.acc.toFixed(3)} (onnx)`,
            );
            expect({ name, mismatches }).toEqual({ name, mismatches: [] });
            expect({ name, worst: worst < TOLERANCE ? 'within 1e-3' : worst }).toEqual({
              name,
              worst: 'within 1e-3',
            });
          }
        } finally {
          console.log(`SmolLM2-135M ${label}, ${quant}, torch vs ONNX:\n${lines.join('\n')}`);
          await onnx.close();
        }
      },
    );
  },
);
