import { basename, resolve } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import {
  buildReport,
  EvalDataError,
  evaluateSubnet,
  isTaskName,
  onnxBackend,
  perItemLines,
  resolveSettings,
  SettingsError,
  TASKS,
  TASK_NAMES,
  writeFileAtomic,
  type EvalReport,
  type EvaluationStage,
  type ScoringPath,
  type TaskResult,
} from '../../src/eval';
import { ModelFormatError } from '../../src/model/config';
import { QUANT_MODES, type QuantMode, linearQuant, quantTag } from '../../src/model/quantize';
import { readSubnetArg, subnetHash, SubnetSpecError } from '../../src/model/subnet';
import type { SubnetSpec } from '../../src/model/types';
import { UsageError } from '../errors';
import { parseScoringFlags, torchBackend } from '../../src/eval/torch-backend';

interface EvalOptions {
  model: string;
  task: string;
  data: string;
  subnet?: string;
  shots?: string;
  limit?: string;
  fraction?: string;
  seed?: string;
  fewshotSeed?: string;
  bos: boolean;
  json: boolean;
  perItem?: string;
  out?: string;
  naive: boolean;
  path?: string;
  threads?: string;
  quant: string;
  backend?: string;
  device?: string;
  dtype?: string;
}

function integer(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`${flag} ${value}: expected an integer >= ${min}`);
  return Number(value);
}

function fraction(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const f = Number(value);
  if (!(f > 0 && f <= 1)) throw new UsageError(`--fraction ${value}: expected a number in (0, 1]`);
  return f;
}

/** A progress bar on stderr when it is a terminal; nothing otherwise (logs stay clean). */
const SCORING_PATHS: readonly ScoringPath[] = ['shared', 'fast', 'naive'];

function scoringPath(opts: { naive: boolean; path?: string }): ScoringPath | undefined {
  if (opts.naive && opts.path && opts.path !== 'naive')
    throw new UsageError(`--naive contradicts --path ${opts.path}`);
  if (opts.naive) return 'naive';
  if (opts.path === undefined) return undefined;
  if (!(SCORING_PATHS as readonly string[]).includes(opts.path))
    throw new UsageError(`--path ${opts.path}: expected one of ${SCORING_PATHS.join(', ')}`);
  return opts.path as ScoringPath;
}

function progress(label: string): { update: (done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted}`,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}

const fmt = (x: number | null | undefined) => (x === null || x === undefined ? 'N/A' : x.toFixed(4));

function printTable(report: EvalReport, result: TaskResult): void {
  const rows = Object.entries(report.results).map(([key, m]) => {
    const metrics = [`acc ${fmt(m.acc)} ± ${fmt(m.acc_stderr)}`];
    if (m.acc_norm !== undefined) metrics.push(`acc_norm ${fmt(m.acc_norm)} ± ${fmt(m.acc_norm_stderr)}`);
    return `${key.padEnd(40)} ${String(report.n_shot[key]).padStart(2)}-shot  n=${String(report.n_samples[key]).padEnd(6)} ${metrics.join('   ')}`;
  });
  console.log(rows.join('\n'));
  const s = result.stats;
  console.log(
    `\n${s.requests} requests in ${s.seconds.toFixed(1)} s (${(s.requests / s.seconds).toFixed(1)} requests/s, ` +
      `${(s.tokens / s.seconds).toFixed(0)} tokens/s, ${s.path} path); bos=${result.settings.bos}, max_length=${result.settings.maxLength}`,
  );
}

async function runEval(opts: EvalOptions): Promise<void> {
  if (!isTaskName(opts.task))
    throw new UsageError(`--task ${opts.task}: expected one of ${TASK_NAMES.join(', ')}`);
  const shots = integer(opts.shots, '--shots', 0) ?? 0;
  const settings = {
    shots,
    limit: integer(opts.limit, '--limit', 1),
    fraction: fraction(opts.fraction),
    sampleSeed: integer(opts.seed, '--seed', 0),
    fewshotSeed: integer(opts.fewshotSeed, '--fewshot-seed', 0),
    bos: opts.bos,
    keepPrompts: opts.perItem !== undefined,
  };
  if (settings.sampleSeed !== undefined && settings.fraction === undefined)
    throw new UsageError('--seed goes with --fraction');
  resolveSettings(TASKS[opts.task], settings);
  const threads = integer(opts.threads, '--threads', 1);
  const scoring = parseScoringFlags(opts);
  if (typeof scoring === 'string') throw new UsageError(scoring);
  if (!(QUANT_MODES as readonly string[]).includes(opts.quant))
    throw new UsageError(`--quant ${opts.quant}: expected one of ${QUANT_MODES.join(', ')}`);
  const quant = opts.quant as QuantMode;
  const modelDir = resolve(opts.model);
  const subnet = opts.subnet ? readSubnetArg(opts.subnet) : undefined;

  const bars: Record<EvaluationStage, ReturnType<typeof progress>> = {
    preparing: progress('tokenizing'),
    scoring: progress(`scoring ${opts.task}`),
  };
  const backend =
    scoring.backend === 'torch'
      ? torchBackend({ device: scoring.device, dtype: scoring.dtype, threads })
      : onnxBackend({ threads });
  let evaluation;
  try {
    evaluation = await evaluateSubnet(
      {
        modelDir,
        subnet: subnet?.json as SubnetSpec | undefined,
        subnetSource: subnet?.source,
        task: { name: opts.task, data: resolve(opts.data), ...settings },
      },
      {
        backend,
        quant,
        path: scoringPath(opts),
        onProgress: (stage, done, total) => {
          if (stage === 'scoring') bars.preparing.stop();
          bars[stage].update(done, total);
        },
      },
    );
  } finally {
    bars.preparing.stop();
    bars.scoring.stop();
    await backend.close();
  }
  const { result, checkpoint, subnet: spec } = evaluation;
  const report = buildReport([result], {
    model: { dir: modelDir, name: basename(modelDir), identity: checkpoint.identity },
    subnet: { ...spec, hash: subnetHash(spec) },
  });
  const output = {
    ...(quant === 'none' ? report : { ...report, quant, quantKernel: quantTag(linearQuant(quant)!) }),
    numerics: backend.numerics,
  };
  if (opts.out) writeFileAtomic(opts.out, JSON.stringify(output, null, 2) + '\n');
  if (opts.perItem) writeFileAtomic(opts.perItem, perItemLines([result]));
  if (opts.json) console.log(JSON.stringify(output));
  else {
    printTable(report, result);
    if (quant !== 'none') console.log(`decoder linear weights quantized: ${quant}`);
  }
}

/** `llama-nas eval`: one benchmark task scored as lm-evaluation-harness scores it. */
export function register(program: Command): void {
  program
    .command('eval')
    .description(
      'evaluate a model or sub-network on ARC-e/ARC-c/MMLU/TruthfulQA MC1/WinoGrande (lm-evaluation-harness scoring)',
    )
    .requiredOption('--model <dir>', 'Hugging Face LLaMA folder (config.json, safetensors, tokenizer.json)')
    .requiredOption('--task <name>', TASK_NAMES.join('|'))
    .requiredOption(
      '--data <path>',
      'the task data: a split file or the folder of the original distribution or HF export',
    )
    .option('--subnet <spec>', 'sub-network as JSON text or @FILE (default: the full network)')
    .option('--shots <k>', 'few-shot examples (default 0)')
    .option('--limit <n>', 'only the first n documents (MMLU: per subject)')
    .option('--fraction <f>', 'a seeded random fraction of the documents (MMLU: per subject)')
    .option('--seed <s>', 'seed of the --fraction draw (default 0)')
    .option('--fewshot-seed <s>', 'seed of the few-shot draw (default 1234, the harness default)')
    .option('--bos', "prepend the tokenizer's BOS token (harness > 0.4.9.1 behaviour)", false)
    .option(
      '--path <path>',
      "scoring path: shared (default: questions sharing a prefix packed together), fast (one question's choices packed), naive (one request per model call; the reference, slow)",
    )
    .option('--naive', 'the same as --path naive', false)
    .option('--threads <n>', 'intra-op threads on CPU (ONNX Runtime, torch; default: all cores)')
    .option(
      '--backend <name>',
      'scoring engine: onnx (ONNX Runtime, CPU, float32) or torch (PyTorch)',
      'onnx',
    )
    .option('--device <device>', 'torch device: cpu, cuda, cuda:N (--backend torch)', 'cpu')
    .option(
      '--dtype <dtype>',
      'torch dtype: float32, bfloat16, float16 (default: float32 on cpu, bfloat16 on cuda)',
    )
    .option(
      '--quant <mode>',
      `weight quantization of the decoder linear layers: ${QUANT_MODES.join(', ')} (int8, int4: weight-only; int8-dq, -a8: activations too)`,
      'none',
    )
    .option('--json', 'print the results as one JSON object', false)
    .option('--out <file>', 'also write the results JSON to a file')
    .option('--per-item <file>', 'write per-question scores as JSON lines')
    .action(async (opts: EvalOptions) => {
      try {
        await runEval(opts);
      } catch (err) {
        if (
          err instanceof EvalDataError ||
          err instanceof SettingsError ||
          err instanceof SubnetSpecError ||
          err instanceof ModelFormatError
        ) {
          throw new UsageError(err.message);
        }
        throw err;
      }
    });
}
