import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  evaluateSubnet,
  keepSessionsOpen,
  onnxBackend,
  type LoadedTask,
  type McDoc,
  type TaskResult,
} from '../src/eval';
import { mmluText } from '../src/eval/loaders/mmlu';
import { PyRandom } from '../src/eval/pyrandom';
import { tinyConfig, writeRandomCheckpoint } from '../test/fixtures/model/random-checkpoint';

/**
 * Scoring speed of the evaluator on a small model: the fast path (each question's context
 * computed once, rows batched by length) next to the naive path (one request per model call,
 * what a plain loop over the harness's requests does), on the same prepared requests, with
 * their agreement. Workload: MMLU-style few-shot prompts (long shared context, one-token
 * continuations) and ARC-style zero-shot prompts (short context, multi-token continuations).
 *
 * The model is a random LLaMA checkpoint written to a temporary folder, or the one in
 * LLAMA_NAS_BENCH_EVAL_MODEL (a Hugging Face folder with tokenizer.json).
 */

const WORDS = (
  'the a of to in is was for on that with as by at from this which be are energy water plant cell light ' +
  'force mass heat earth sun moon rock animal system change cause effect group number value rate'
).split(' ');

function sentence(rnd: PyRandom, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[rnd.randbelow(WORDS.length)]!);
  return out.join(' ');
}

function mmluLike(rnd: PyRandom, questions: number): LoadedTask {
  const make = (i: number, split: string): McDoc => {
    const choices = [0, 1, 2, 3].map(() => sentence(rnd, 3 + rnd.randbelow(4)));
    return {
      id: `${split}/${i}`,
      source: { file: `synthetic-${split}`, line: i + 1 },
      subject: 'synthetic_science',
      text: mmluText(`${sentence(rnd, 12 + rnd.randbelow(12))}?`, choices),
      choices: ['A', 'B', 'C', 'D'],
      gold: rnd.randbelow(4),
    };
  };
  return {
    name: 'mmlu',
    docs: Array.from({ length: questions }, (_, i) => make(i, 'test')),
    fewshotDocs: Array.from({ length: 5 }, (_, i) => make(i, 'dev')),
    files: { eval: ['synthetic'], fewshot: ['synthetic'] },
  };
}

function arcLike(rnd: PyRandom, questions: number): LoadedTask {
  return {
    name: 'arc_easy',
    docs: Array.from({ length: questions }, (_, i) => ({
      id: `arc/${i}`,
      source: { file: 'synthetic', line: i + 1 },
      text: `Question: ${sentence(rnd, 10 + rnd.randbelow(10))}?\nAnswer:`,
      choices: [0, 1, 2, 3].map(() => sentence(rnd, 2 + rnd.randbelow(5))),
      gold: rnd.randbelow(4),
    })),
    files: { eval: ['synthetic'], fewshot: [] },
  };
}

/**
 * The workloads of the evaluation benchmarks, from one seeded generator: [name, task, shots] for
 * MMLU-style k-shot questions (one-token choices) and ARC-style 0-shot ones (multi-token choices).
 */
export function evalWorkloads(
  mmluQuestions: number,
  mmluShots: number,
  arcQuestions: number,
): [string, LoadedTask, number][] {
  const rnd = new PyRandom(20240);
  return [
    [`MMLU-style ${mmluShots}-shot (4 one-token choices)`, mmluLike(rnd, mmluQuestions), mmluShots],
    ['ARC-style 0-shot (4 multi-token choices)', arcLike(rnd, arcQuestions), 0],
  ];
}

interface Figures {
  workload: string;
  requests: number;
  fast: {
    seconds: number;
    requestsPerSecond: number;
    tokensPerSecond: number;
    modelTokens: number;
    calls: number;
  };
  naive: {
    seconds: number;
    requestsPerSecond: number;
    tokensPerSecond: number;
    modelTokens: number;
    calls: number;
  };
  speedup: number;
  maxAbsDifference: number;
  predictionsAgree: number;
}

function compare(workload: string, fast: TaskResult, naive: TaskResult): Figures {
  let maxAbs = 0;
  let agree = 0;
  fast.items.forEach((item, i) => {
    const ref = naive.items[i]!;
    item.loglikelihoods.forEach(
      (ll, c) => (maxAbs = Math.max(maxAbs, Math.abs(ll - ref.loglikelihoods[c]!))),
    );
    if (item.pred === ref.pred) agree++;
  });
  // tokens/s counts the tokens the harness would feed (each request's own input): the work done
  // for the user, whichever path does it; modelTokens is what each path actually ran.
  const harnessTokens = naive.stats.tokens;
  const side = (r: TaskResult) => ({
    seconds: r.stats.seconds,
    requestsPerSecond: r.stats.requests / r.stats.seconds,
    tokensPerSecond: harnessTokens / r.stats.seconds,
    modelTokens: r.stats.tokens,
    calls: r.stats.calls,
  });
  return {
    workload,
    requests: fast.stats.requests,
    fast: side(fast),
    naive: side(naive),
    speedup: naive.stats.seconds / fast.stats.seconds,
    maxAbsDifference: maxAbs,
    predictionsAgree: agree / fast.items.length,
  };
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const temp = mkdtempSync(join(tmpdir(), 'bench-eval-'));
  try {
    let modelDir = process.env.LLAMA_NAS_BENCH_EVAL_MODEL;
    if (!modelDir) {
      modelDir = join(temp, 'model');
      const config = tinyConfig({
        vocabSize: 300,
        hiddenSize: 128,
        intermediateSize: 344,
        numLayers: 4,
        numHeads: 4,
        numKvHeads: 4,
        headDim: 32,
        maxPositionEmbeddings: 2048,
      });
      writeRandomCheckpoint(modelDir, config, 1, { tokenizer: true });
    } else if (!existsSync(join(modelDir, 'tokenizer.json'))) {
      throw new Error(`LLAMA_NAS_BENCH_EVAL_MODEL=${modelDir} has no tokenizer.json`);
    }
    // the full network, one session for every pass (the warm-up warms the session that is timed)
    const backend = keepSessionsOpen(onnxBackend({ cacheDir: join(temp, 'cache') }));
    const figures: Figures[] = [];
    try {
      const workloads = evalWorkloads(12, 3, 30);
      for (const [name, data, shots] of workloads) {
        const score = async (path: 'fast' | 'naive', limit?: number) =>
          (
            await evaluateSubnet(
              { modelDir, task: { name: data.name, data, shots, limit } },
              { backend, path },
            )
          ).result;
        await score('fast', 2); // warm-up
        figures.push(compare(name, await score('fast'), await score('naive')));
      }
    } finally {
      await backend.close();
    }
    if (json) {
      console.log(
        JSON.stringify({
          benchmark: 'eval',
          model: process.env.LLAMA_NAS_BENCH_EVAL_MODEL ?? 'random',
          figures,
        }),
      );
      return;
    }
    for (const f of figures) {
      console.log(`${f.workload}: ${f.requests} requests`);
      for (const [label, s] of [
        ['fast ', f.fast],
        ['naive', f.naive],
      ] as const) {
        console.log(
          `  ${label} ${s.requestsPerSecond.toFixed(1).padStart(8)} requests/s ${s.tokensPerSecond.toFixed(0).padStart(9)} tokens/s` +
            `  (${s.seconds.toFixed(2)} s, ${s.calls} model calls, ${s.modelTokens} tokens run)`,
        );
      }
      console.log(
        `  speed-up ${f.speedup.toFixed(2)}x; max |fast - naive| log-likelihood ${f.maxAbsDifference.toExponential(2)}; ` +
          `predictions agree on ${(100 * f.predictionsAgree).toFixed(1)}% of questions`,
      );
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}
