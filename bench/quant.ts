import { BENCH_MODEL_CONFIG } from './model';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { InferenceSession } from 'onnxruntime-node';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluatePrepared, loadTask, prepareTask, type PreparedTask, type TaskName } from '../src/eval';
import { openCheckpoint, writeCheckpoint } from '../src/model/checkpoint';
import type { LlamaConfig } from '../src/model/config';
import type { QuantMode } from '../src/model/quantize';
import { randomWeights } from '../src/model/random';
import { openSubnet, packBatch, sessionOptions } from '../src/model/runtime';
import { quantizedModelSize } from '../src/model/size';
import { measureThroughputInterleaved, scoringWorkload } from '../src/model/throughput';
import { loadTokenizer } from '../src/model/tokenizer';
import type { SubnetSpec, TextTokenizer } from '../src/model/types';
import { stateDir } from '../src/toolchain';
import { TASK_PATHS, TOKENIZER_DIR } from '../src/world/generate';
import { findEmbeddedWorld, findFineTunedWorld, loadWorldConfigs } from '../src/world/embedded';
import { KERNEL_CANDIDATES, type KernelFigure, compareKernels } from './quant-kernels';

/**
 * Float, int8 and int4 side by side for the full network and two sub-networks of the embedded
 * model: scoring tokens/s by the throughput protocol (src/model/throughput.ts; the variants of
 * one sub-network measured interleaved, as the machine's load changes), size (measured
 * as exported, and by the paper's rule with the rest at 2 bytes) and accuracy on two tasks.
 * Before that, the two int8 kernels and int4 on single linear layers of the embedded model's and
 * LLaMA-2-7B's shapes.
 */
const QUANTS: QuantMode[] = ['none', 'int8', 'int8-dq', 'int8-a8', 'int4'];
/** The campaign's int8: weight-only, the mode both scoring backends compute alike. */
const CAMPAIGN_INT8: QuantMode = 'int8';
const TASKS: TaskName[] = ['arc_easy', 'winogrande'];
const THREADS = 1;
const WORKLOAD = { batch: 8, seqLen: 128, warmup: 2, repeats: 9, seed: 0 };

interface Setting {
  source: string;
  modelDir: string;
  tokenizer?: TextTokenizer;
  tasks: Partial<Record<TaskName, string>>;
  cleanup: () => void;
}

/**
 * The built embedded world if there is one (never builds it: pre-training takes long); or the
 * model and world data folders named by BENCH_QUANT_MODEL and BENCH_QUANT_DATA.
 */
async function findSetting(): Promise<Setting> {
  const taskPathsIn = (dataDir: string) =>
    Object.fromEntries(TASKS.map((t) => [t, join(dataDir, TASK_PATHS[t])])) as Record<TaskName, string>;
  const modelEnv = process.env.BENCH_QUANT_MODEL;
  if (modelEnv) {
    const dataEnv = process.env.BENCH_QUANT_DATA;
    return {
      source:
        `BENCH_QUANT_MODEL=${modelEnv}` +
        (dataEnv ? ` on the world data in BENCH_QUANT_DATA=${dataEnv}` : ''),
      modelDir: modelEnv,
      tokenizer: await loadTokenizer(modelEnv),
      tasks: dataEnv ? taskPathsIn(dataEnv) : {},
      cleanup: () => {},
    };
  }
  const root = join(stateDir(), 'world');
  const worlds = existsSync(root) ? readdirSync(root).map((k) => join(root, k)) : [];
  const taskPaths = (dir: string) => taskPathsIn(join(dir, 'data'));
  // the default world (seed and configs as the demo's), fine-tuned by `bench world` if it was run
  const world = findEmbeddedWorld();
  const superNetwork = world && findFineTunedWorld(world);
  if (world && superNetwork) {
    return {
      source: `the embedded world's fine-tuned super-network (${superNetwork})`,
      modelDir: superNetwork,
      tokenizer: await loadTokenizer(superNetwork),
      tasks: taskPaths(world.dir),
      cleanup: () => {},
    };
  }
  const ready = world?.dir ?? worlds.sort().find((d) => existsSync(join(d, 'ready.json')));
  if (ready) {
    return {
      source: `the embedded world's pre-trained base model (${ready})`,
      modelDir: join(ready, 'base-model'),
      tokenizer: await loadTokenizer(join(ready, 'base-model')),
      tasks: taskPaths(ready),
      cleanup: () => {},
    };
  }
  // no trained base: a seeded random checkpoint of the embedded architecture, on the world's tasks if generated
  const generated = worlds.find((d) => existsSync(join(d, 'data', TOKENIZER_DIR, 'tokenizer.json')));
  const arch = loadWorldConfigs().model.architecture;
  const tokenizer = generated ? await loadTokenizer(join(generated, 'data', TOKENIZER_DIR)) : undefined;
  const config: LlamaConfig = {
    vocabSize: tokenizer?.vocabSize ?? 512,
    hiddenSize: arch.hidden_size,
    intermediateSize: arch.intermediate_size,
    numLayers: arch.num_hidden_layers,
    numHeads: arch.num_attention_heads,
    numKvHeads: arch.num_attention_heads,
    headDim: arch.hidden_size / arch.num_attention_heads,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: Number(arch.max_position_embeddings ?? 128),
  };
  const tmp = mkdtempSync(join(tmpdir(), 'bench-quant-'));
  writeCheckpoint(join(tmp, 'model'), config, randomWeights(config, 1));
  return {
    source:
      'NO trained embedded world found: a seeded RANDOM checkpoint of the embedded architecture' +
      (generated
        ? ` on the generated world's tasks (${generated}); accuracies are near chance`
        : '; no tasks'),
    modelDir: join(tmp, 'model'),
    tokenizer,
    tasks: generated ? taskPaths(generated) : {},
    cleanup: () => rmSync(tmp, { recursive: true, force: true }),
  };
}

/** Share of ONNX Runtime kernel time by operator type over a few runs of the scoring workload. */
async function opShares(modelPath: string, vocabSize: number): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-quant-prof-'));
  try {
    const options = { ...sessionOptions(THREADS), enableProfiling: true, profileFilePrefix: join(dir, 'p') };
    const session = await InferenceSession.create(modelPath, options);
    const feeds = packBatch(scoringWorkload(WORKLOAD.batch, WORKLOAD.seqLen, vocabSize, 0), WORKLOAD.seqLen);
    for (let i = 0; i < 4; i++) await session.run(feeds, ['target_logprobs']);
    await session.release();
    const file = readdirSync(dir).find((n) => n.endsWith('.json'));
    if (!file) return {};
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      cat: string;
      name: string;
      dur: number;
      args?: { op_name?: string };
    }[];
    const byOp: Record<string, number> = {};
    let total = 0;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const op = e.args?.op_name ?? '?';
      byOp[op] = (byOp[op] ?? 0) + e.dur;
      total += e.dur;
    }
    return Object.fromEntries(
      Object.entries(byOp)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, v / total]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

/** A larger random LLaMA (bench/model's shape) where the linear layers dominate the forward pass. */
const LARGER: LlamaConfig = BENCH_MODEL_CONFIG;

interface Row {
  subnet: string;
  quant: QuantMode;
  tokensPerSecond: number;
  msMedian: number;
  msMin: number;
  msMax: number;
  speedup: number;
  /** As exported: float32 embedding, norms, lm_head. */
  bytesExported: number;
  /** The paper's rule: embedding, norms, lm_head at 2 bytes. */
  bytesPaper: number;
  accuracy: Partial<Record<TaskName, number>>;
  accuracyLossPts: Partial<Record<TaskName, number>>;
  /** Fraction of items where the prediction equals the float model's (finer than accuracy on small sets). */
  agreement: Partial<Record<TaskName, number>>;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const log = (s: string) => {
    if (!json) console.log(s);
  };
  log(`CPU: ${cpus()[0]?.model ?? '?'} x ${cpus().length}; ${THREADS} intra-op thread(s) throughout`);

  // 1. kernels on single linear layers
  const kernelQuants = KERNEL_CANDIDATES;
  const { hidden_size: hidden, intermediate_size: mlp } = loadWorldConfigs().model.architecture;
  const shapes = [
    { m: 1024, k: hidden, n: hidden, what: 'embedded q/k/v/o' },
    { m: 1024, k: hidden, n: mlp, what: 'embedded gate/up' },
    { m: 1024, k: mlp, n: hidden, what: 'embedded down' },
    { m: 128, k: 4096, n: 4096, what: 'LLaMA-2-7B q/k/v/o' },
    { m: 128, k: 4096, n: 11008, what: 'LLaMA-2-7B gate/up' },
  ];
  const kernels: (KernelFigure & { what: string })[] = [];
  for (const { what, ...shape } of shapes) {
    const figs = await compareKernels(shape, kernelQuants, {
      threads: THREADS,
      warmup: 2,
      repeats: 7,
      seed: 1,
    });
    for (const f of figs) {
      kernels.push({ ...f, what });
      log(
        `${what.padEnd(20)} [${shape.m}x${shape.k}]x[${shape.k}x${shape.n}] ${f.kernel.padEnd(13)} ` +
          `${f.medianMs.toFixed(2).padStart(8)} ms (${f.minMs.toFixed(2)}-${f.maxMs.toFixed(2)})  x${f.speedup.toFixed(2)}  ` +
          `max err ${(f.relError * 100).toFixed(2)}% of max|y| (weights alone ${(f.weightRelError * 100).toFixed(2)}%)`,
      );
    }
  }

  // 2. the embedded model: full network and two sub-networks
  const setting = await findSetting();
  log(`\nmodel: ${setting.source}`);
  const rows: Row[] = [];
  const profiles: Record<string, Record<string, number>> = {};
  try {
    const ckpt = await openCheckpoint(setting.modelDir);
    const c = ckpt.config;
    const half = Math.floor(c.intermediateSize / 2);
    const subnets: [string, SubnetSpec][] = [
      ['full', { layers: c.numLayers, intermediate: Array(c.numLayers).fill(c.intermediateSize) }],
      [
        `${c.numLayers - 2} layers, mixed`,
        {
          layers: c.numLayers - 2,
          intermediate: Array.from({ length: c.numLayers - 2 }, (_, i) =>
            i % 2 ? half : c.intermediateSize,
          ),
        },
      ],
      [
        `${Math.round(c.numLayers * 0.75)} layers, half MLP`,
        {
          layers: Math.round(c.numLayers * 0.75),
          intermediate: Array(Math.round(c.numLayers * 0.75)).fill(half),
        },
      ],
    ];
    const prepared = new Map<TaskName, PreparedTask>();
    if (setting.tokenizer) {
      for (const [t, path] of Object.entries(setting.tasks) as [TaskName, string][]) {
        prepared.set(t, prepareTask(loadTask(t, path), setting.tokenizer, {}));
      }
    }
    const cacheDir = mkdtempSync(join(tmpdir(), 'bench-quant-cache-'));
    try {
      for (const [name, spec] of subnets) {
        let float: Row | undefined;
        let floatPreds: Partial<Record<TaskName, number[]>> | undefined;
        const sessions = [];
        for (const quant of QUANTS)
          sessions.push(await openSubnet(setting.modelDir, spec, { threads: THREADS, quant, cacheDir }));
        try {
          const timings = await measureThroughputInterleaved(sessions, WORKLOAD);
          for (const [qi, quant] of QUANTS.entries()) {
            const session = sessions[qi]!;
            const t = timings[qi]!;
            const accuracy: Row['accuracy'] = {};
            const preds: Partial<Record<TaskName, number[]>> = {};
            for (const [task, p] of prepared) {
              const r = await evaluatePrepared(p, session);
              accuracy[task] = r.results[task]!.acc;
              preds[task] = r.items.map((i) => i.pred);
            }
            floatPreds ??= preds;
            const agreement = Object.fromEntries(
              Object.entries(preds).map(([k, v]) => {
                const ref = floatPreds![k as TaskName]!;
                return [k, v.filter((x, i) => x === ref[i]).length / v.length];
              }),
            );
            const row: Row = {
              subnet: name,
              quant,
              tokensPerSecond: t.tokensPerSecond,
              msMedian: t.medianSeconds * 1000,
              msMin: t.spread.min * 1000,
              msMax: t.spread.max * 1000,
              speedup: float ? t.tokensPerSecond / float.tokensPerSecond : 1,
              bytesExported: quantizedModelSize(c, spec, 'f32', quant).bytes,
              bytesPaper: quantizedModelSize(c, spec, 'f16', quant).bytes,
              accuracy,
              agreement,
              accuracyLossPts: Object.fromEntries(
                Object.entries(accuracy).map(([k, v]) => [
                  k,
                  float ? 100 * (float.accuracy[k as TaskName]! - v) : 0,
                ]),
              ),
            };
            float ??= row;
            rows.push(row);
            if (name === 'full' && (quant === 'none' || quant === 'int8-dq')) {
              const shares = await opShares(session.modelPath, c.vocabSize);
              profiles[quant] = shares;
              log(
                `  kernel time by operator (${quant}): ` +
                  Object.entries(shares)
                    .slice(0, 8)
                    .map(([op, f]) => `${op} ${(100 * f).toFixed(0)}%`)
                    .join(', '),
              );
            }
            const acc = Object.entries(accuracy)
              .map(
                ([k, v]) =>
                  `${k} ${(100 * v).toFixed(1)}${float !== row ? ` (${signed(-row.accuracyLossPts[k as TaskName]!)}, ${(100 * row.agreement[k as TaskName]!).toFixed(0)}% same answers)` : ''}`,
              )
              .join(', ');
            log(
              `${name.padEnd(22)} ${quant.padEnd(10)} ${t.tokensPerSecond.toFixed(0).padStart(7)} tok/s ` +
                `(${row.msMedian.toFixed(1)} ms, ${row.msMin.toFixed(1)}-${row.msMax.toFixed(1)}) x${row.speedup.toFixed(2)}  ` +
                `${(row.bytesExported / 1024).toFixed(0)} KiB as exported, ${(row.bytesPaper / 1024).toFixed(0)} KiB at f16  ${acc}`,
            );
          }
        } finally {
          for (const session of sessions) await session.close();
        }
      }
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  } finally {
    setting.cleanup();
  }
  // 3. the same protocol on a larger random model, where the decoder's linear layers dominate
  const larger: {
    quant: QuantMode;
    tokensPerSecond: number;
    msMedian: number;
    msMin: number;
    msMax: number;
  }[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'bench-quant-larger-'));
  try {
    writeCheckpoint(join(tmp, 'model'), LARGER, randomWeights(LARGER, 3));
    const spec = {
      layers: LARGER.numLayers,
      intermediate: Array(LARGER.numLayers).fill(LARGER.intermediateSize),
    };
    log(`
larger random model (hidden ${LARGER.hiddenSize}, MLP ${LARGER.intermediateSize}, ${LARGER.numLayers} layers, vocab ${LARGER.vocabSize}):`);
    const sessions = [];
    for (const quant of QUANTS) {
      sessions.push(
        await openSubnet(join(tmp, 'model'), spec, { threads: THREADS, quant, cacheDir: join(tmp, 'cache') }),
      );
    }
    try {
      const timings = await measureThroughputInterleaved(sessions, { ...WORKLOAD, warmup: 1, repeats: 5 });
      for (const [qi, quant] of QUANTS.entries()) {
        const t = timings[qi]!;
        larger.push({
          quant,
          tokensPerSecond: t.tokensPerSecond,
          msMedian: t.medianSeconds * 1000,
          msMin: t.spread.min * 1000,
          msMax: t.spread.max * 1000,
        });
        const speedup = t.tokensPerSecond / larger[0]!.tokensPerSecond;
        log(
          `  ${quant.padEnd(10)} ${t.tokensPerSecond.toFixed(0).padStart(7)} tok/s (${(t.medianSeconds * 1000).toFixed(0)} ms, ` +
            `${(t.spread.min * 1000).toFixed(0)}-${(t.spread.max * 1000).toFixed(0)}) x${speedup.toFixed(2)}`,
        );
      }
    } finally {
      for (const session of sessions) await session.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const workload = { ...WORKLOAD, threads: THREADS, int8: CAMPAIGN_INT8 };
  const verdict = int8Verdict(rows, larger);
  if (json)
    console.log(
      JSON.stringify({
        source: setting.source,
        workload,
        cpu: cpuInt8Support(),
        kernels,
        rows,
        profiles,
        larger,
        verdict,
      }),
    );
  else {
    log(`\nworkload: ${JSON.stringify(workload)}; the campaign's int8 is ${CAMPAIGN_INT8} (weight-only)`);
    log(`CPU: ${cpuInt8Support()}`);
    for (const v of verdict) log(`${v.holds ? 'HOLDS ' : 'MISSES'} ${v.name}: ${v.detail}`);
  }
}

/** Targets of the int8 default: 1.5x the float tokens/s, at most 0.5 points of accuracy lost. */
const INT8_TARGETS = { speedup: 1.5, accuracyLossPts: 0.5 };

function int8Verdict(
  rows: Row[],
  larger: { quant: QuantMode; tokensPerSecond: number }[],
): { name: string; holds: boolean; detail: string }[] {
  const int8 = rows.filter((r) => r.quant === CAMPAIGN_INT8);
  const speedups = int8.map((r) => `${r.subnet} x${r.speedup.toFixed(2)}`);
  const largerFloat = larger.find((r) => r.quant === 'none')?.tokensPerSecond;
  const largerInt8 = larger.find((r) => r.quant === CAMPAIGN_INT8)?.tokensPerSecond;
  const largerNote =
    largerFloat && largerInt8 ? `; larger model x${(largerInt8 / largerFloat).toFixed(2)}` : '';
  const losses = int8.flatMap((r) =>
    Object.entries(r.accuracyLossPts).map(([task, pts]) => ({ what: `${r.subnet} ${task}`, pts: pts! })),
  );
  const worst = losses.reduce((a, b) => (b.pts > a.pts ? b : a), { what: 'none', pts: -Infinity });
  const mean = losses.reduce((a, b) => a + b.pts, 0) / Math.max(1, losses.length);
  return [
    {
      name: `int8 >= ${INT8_TARGETS.speedup}x float tokens/s on the embedded model`,
      holds: int8.length > 0 && int8.every((r) => r.speedup >= INT8_TARGETS.speedup),
      detail: speedups.join(', ') + largerNote,
    },
    {
      name: `int8 loses <= ${INT8_TARGETS.accuracyLossPts} accuracy points on the embedded tasks`,
      // accuracies are multiples of 1/n: compare with a little slack for float rounding
      holds: losses.length > 0 && worst.pts <= INT8_TARGETS.accuracyLossPts + 1e-9,
      detail: losses.length
        ? `worst ${worst.what} ${worst.pts.toFixed(1)} points, mean ${mean.toFixed(2)} over ${losses.length} (sub-network, task) pairs`
        : 'no task data (no embedded world built)',
    },
  ];
}

/** Whether the CPU has the int8 dot-product instructions (VNNI) that make int8 MatMul fast. */
function cpuInt8Support(): string {
  let flags = '';
  try {
    flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  } catch {
    return 'unknown (no /proc/cpuinfo)';
  }
  const has = (f: string) => flags.split(' ').includes(f);
  const isa = has('avx512f') ? 'AVX-512' : has('avx2') ? 'AVX2' : 'no AVX2';
  const vnni = has('avx512_vnni') ? 'AVX-512 VNNI' : has('avx_vnni') ? 'AVX-VNNI' : 'no VNNI';
  return `${cpus()[0]?.model ?? 'unknown'}: ${isa}, ${vnni}`;
}

if (require.main === module) {
  const json = process.argv.includes('--json');
  run({ json }).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
