import { availableParallelism } from 'node:os';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluatePrepared, prepareTask, type PreparedTask, type TaskResult } from '../src/eval';
import { torchBackend, type TorchDtype, type TorchScorer } from '../src/eval/torch-backend';
import { loadLlamaConfig } from '../src/model/config';
import { openSubnet } from '../src/model/runtime';
import { loadTokenizer } from '../src/model/tokenizer';
import type { SequenceScorer } from '../src/model/types';
import { tinyConfig, writeRandomCheckpoint } from '../test/fixtures/model/random-checkpoint';
import { evalWorkloads } from './eval';

/**
 * The scoring backends side by side, in one run, on the same model and the same prepared
 * requests: the ONNX backend and the PyTorch backend (both on the evaluator's packed rows:
 * shared contexts once, output projection only where scored), and a plain per-request loop
 * as lm-evaluation-harness's Hugging Face backend runs it (one forward per request, full-
 * vocabulary logits and log-softmax at every position; run by the PyTorch server's `naive` op).
 *
 * tokens/s counts the tokens the harness would feed (each request's context + continuation),
 * the same work for all three. Env: LLAMA_NAS_BENCH_EVAL_MODEL (a Hugging Face folder with
 * tokenizer.json; default a random LLaMA with a 32000-token vocabulary), LLAMA_NAS_BENCH_DEVICE
 * (torch device, default cpu), LLAMA_NAS_BENCH_DTYPE (default float32), LLAMA_NAS_BENCH_THREADS.
 */

interface Side {
  seconds: number;
  tokensPerSecond: number;
  modelTokens: number;
  calls: number;
}

interface Figures {
  workload: string;
  requests: number;
  harnessTokens: number;
  onnx: Side;
  torch: Side;
  loop: Side;
  torchOverLoop: number;
  onnxOverLoop: number;
  torchOverOnnx: number;
  maxAbsDifference: { torchVsOnnx: number; torchVsLoop: number };
}

/** A scorer whose every call is the per-request loop of the torch server. */
function loopScorer(s: TorchScorer): SequenceScorer {
  return {
    maxLength: s.maxLength,
    scorePacked: (rows) => s.scoreNaive(rows),
    close: () => Promise.resolve(),
  };
}

function maxDiff(a: TaskResult, b: TaskResult): number {
  let m = 0;
  a.items.forEach((item, i) =>
    item.loglikelihoods.forEach((ll, c) => (m = Math.max(m, Math.abs(ll - b.items[i]!.loglikelihoods[c]!)))),
  );
  return m;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const temp = mkdtempSync(join(tmpdir(), 'bench-backends-'));
  const device = process.env.LLAMA_NAS_BENCH_DEVICE ?? 'cpu';
  const dtype = (process.env.LLAMA_NAS_BENCH_DTYPE ?? 'float32') as TorchDtype;
  const threads = Number(process.env.LLAMA_NAS_BENCH_THREADS ?? availableParallelism());
  const backend = torchBackend({ device, dtype, threads });
  try {
    let modelDir = process.env.LLAMA_NAS_BENCH_EVAL_MODEL;
    if (!modelDir) {
      modelDir = join(temp, 'model');
      writeRandomCheckpoint(
        modelDir,
        tinyConfig({
          vocabSize: 32000,
          hiddenSize: 256,
          intermediateSize: 688,
          numLayers: 4,
          numHeads: 8,
          numKvHeads: 8,
          headDim: 32,
          maxPositionEmbeddings: 2048,
        }),
        1,
        { tokenizer: true },
      );
    } else if (!existsSync(join(modelDir, 'tokenizer.json'))) {
      throw new Error(`LLAMA_NAS_BENCH_EVAL_MODEL=${modelDir} has no tokenizer.json`);
    }
    const tokenizer = await loadTokenizer(modelDir);
    const config = loadLlamaConfig(modelDir);
    const spec = {
      layers: config.numLayers,
      intermediate: new Array<number>(config.numLayers).fill(config.intermediateSize),
    };
    const onnx = await openSubnet(modelDir, spec, { cacheDir: join(temp, 'cache'), threads });
    const torch = await backend.openSubnet(modelDir, spec);
    const loop = loopScorer(torch);
    const ready = await backend.describe(modelDir);
    const figures: Figures[] = [];
    try {
      const workloads = evalWorkloads(8, 5, 24);
      for (const [name, task, shots] of workloads) {
        const prepared: PreparedTask = prepareTask(task, tokenizer, { shots });
        const warm = { ...prepared, items: prepared.items.slice(0, 2) };
        for (const s of [onnx, torch, loop]) await evaluatePrepared(warm, s);
        const o = await evaluatePrepared(prepared, onnx);
        const t = await evaluatePrepared(prepared, torch);
        const l = await evaluatePrepared(prepared, loop, { path: 'naive' });
        const harnessTokens = l.stats.tokens;
        const side = (r: TaskResult): Side => ({
          seconds: r.stats.seconds,
          tokensPerSecond: harnessTokens / r.stats.seconds,
          modelTokens: r.stats.tokens,
          calls: r.stats.calls,
        });
        figures.push({
          workload: name,
          requests: prepared.requestCount,
          harnessTokens,
          onnx: side(o),
          torch: side(t),
          loop: side(l),
          torchOverLoop: l.stats.seconds / t.stats.seconds,
          onnxOverLoop: l.stats.seconds / o.stats.seconds,
          torchOverOnnx: o.stats.seconds / t.stats.seconds,
          maxAbsDifference: { torchVsOnnx: maxDiff(t, o), torchVsLoop: maxDiff(t, l) },
        });
      }
    } finally {
      await onnx.close();
      await torch.close();
    }
    const objective = await backend.throughput(modelDir, spec, { batch: 8, length: 128 });
    const setup = {
      model: process.env.LLAMA_NAS_BENCH_EVAL_MODEL ?? 'random (hidden 256, 4 layers, MLP 688, vocab 32000)',
      torch: `${ready.torch} on ${ready.device_name}, ${ready.dtype}, ${ready.sdpa ? 'scaled_dot_product_attention' : 'plain attention'}`,
      onnx: `onnxruntime-node CPU, ${threads} threads`,
      threads,
    };
    if (json) {
      console.log(JSON.stringify({ benchmark: 'backends', setup, figures, objective }));
      return;
    }
    console.log(`model: ${setup.model}\ntorch: ${setup.torch}\nonnx: ${setup.onnx}`);
    for (const f of figures) {
      console.log(`${f.workload}: ${f.requests} requests, ${f.harnessTokens} request tokens`);
      for (const [label, s] of [
        ['onnx (packed)        ', f.onnx],
        ['torch (packed)       ', f.torch],
        ['per-request loop     ', f.loop],
      ] as const) {
        console.log(
          `  ${label} ${s.tokensPerSecond.toFixed(0).padStart(9)} tokens/s  (${s.seconds.toFixed(2)} s, ${s.calls} calls, ${s.modelTokens} tokens run: ${(s.modelTokens / s.seconds).toFixed(0)} model tokens/s)`,
        );
      }
      console.log(
        `  torch / loop ${f.torchOverLoop.toFixed(2)}x, onnx / loop ${f.onnxOverLoop.toFixed(2)}x, torch / onnx ${f.torchOverOnnx.toFixed(2)}x; ` +
          `max |diff| torch-onnx ${f.maxAbsDifference.torchVsOnnx.toExponential(2)}, torch-loop ${f.maxAbsDifference.torchVsLoop.toExponential(2)}`,
      );
    }
    console.log(
      `throughput objective (torch, contiguous weights): ${objective.tokensPerSecond.toFixed(0)} tokens/s on ${objective.deviceName}, ` +
        `${objective.dtype}, batch ${objective.batch} x length ${objective.length}`,
    );
  } finally {
    await backend.close();
    rmSync(temp, { recursive: true, force: true });
  }
}
