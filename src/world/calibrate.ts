import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import {
  evaluateSubnet,
  keepSessionsOpen,
  loadTask,
  onnxBackend,
  type ScoringBackend,
  type TaskName,
} from '../eval';
import { mmluText } from '../eval/loaders/mmlu';
import { TASK_NAMES, type LoadedTask, type McDoc } from '../eval/types';
import type { SubnetSpec } from '../model/types';
import type { Rng } from './rng';

/** The paper's settings: 0-shot ARC, WinoGrande and TruthfulQA, 5-shot MMLU. */
export const PAPER_SHOTS: Record<TaskName, number> = {
  arc_easy: 0,
  arc_challenge: 0,
  mmlu: 5,
  truthfulqa_mc1: 0,
  winogrande: 0,
};

export interface NamedSubnet {
  name: string;
  spec: SubnetSpec;
}

/**
 * The sub-networks the calibration reports: the full network, the smallest one, and two in
 * between (fewer layers at full width; all layers at the small width).
 */
export function calibrationSubnets(
  numLayers: number,
  layerCounts: number[],
  widths: number[],
): NamedSubnet[] {
  const minL = Math.min(...layerCounts);
  const midL = [...layerCounts].sort((a, b) => a - b).find((l) => l > minL && l < numLayers) ?? minL;
  const wMax = Math.max(...widths);
  const wMin = Math.min(...widths);
  const spec = (layers: number, width: number): SubnetSpec => ({
    layers,
    intermediate: Array(layers).fill(width),
  });
  return [
    { name: 'full', spec: spec(numLayers, wMax) },
    { name: `${midL} layers`, spec: spec(midL, wMax) },
    { name: `narrow MLP`, spec: spec(numLayers, wMin) },
    { name: 'smallest', spec: spec(minL, wMin) },
  ];
}

export interface TaskScore {
  task: TaskName;
  /** acc in percent. */
  acc: number;
  stderr: number;
  /** Expected acc of guessing, in percent. */
  chance: number;
  n: number;
}

export interface SubnetScores {
  subnet: NamedSubnet;
  tasks: TaskScore[];
  seconds: number;
}

export interface EvaluateWorldOptions {
  tasks?: readonly TaskName[];
  shots?: Partial<Record<TaskName, number>>;
  limit?: number;
  /** Rewrites each task's documents after loading (e.g. `shuffleMmluOptions`). */
  transform?: (task: LoadedTask) => LoadedTask;
  onProgress?: (message: string) => void;
  /** Default: ONNX Runtime. */
  backend?: ScoringBackend;
}

/** Scores sub-networks of `modelDir` on the world's tasks with the project's evaluator. */
export async function evaluateWorld(
  modelDir: string,
  taskPaths: Record<TaskName, string>,
  subnets: NamedSubnet[],
  opts: EvaluateWorldOptions = {},
): Promise<SubnetScores[]> {
  const names = opts.tasks ?? TASK_NAMES;
  const tasks = names.map((name) => {
    const shots = opts.shots?.[name] ?? PAPER_SHOTS[name];
    const raw = loadTask(name, taskPaths[name], { fewshot: shots > 0 });
    const data = opts.transform ? opts.transform(raw) : raw;
    const docs = opts.limit ? data.docs.slice(0, opts.limit) : data.docs;
    const chance = (100 * docs.reduce((s, d) => s + 1 / d.choices.length, 0)) / docs.length;
    return { task: { name, data, shots, limit: opts.limit }, chance };
  });
  const out: SubnetScores[] = [];
  for (const subnet of subnets) {
    const t0 = performance.now();
    // one session per sub-network, for all its tasks
    const backend = keepSessionsOpen(opts.backend ?? onnxBackend());
    const scores: TaskScore[] = [];
    try {
      for (const { task, chance } of tasks) {
        const { result } = await evaluateSubnet({ modelDir, subnet: subnet.spec, task }, { backend });
        const m = result.results[task.name];
        if (!m) throw new Error(`${task.name}: the evaluator returned no result for the task`);
        scores.push({
          task: task.name,
          acc: 100 * m.acc,
          stderr: 100 * (m.acc_stderr ?? 0),
          chance,
          n: result.nSamples,
        });
        opts.onProgress?.(`${subnet.name}: ${task.name} ${(100 * m.acc).toFixed(1)}`);
      }
    } finally {
      await backend.close();
    }
    out.push({ subnet, tasks: scores, seconds: (performance.now() - t0) / 1000 });
  }
  return out;
}

/**
 * MMLU with each question's options in a seeded random order (the answer letter moved with its
 * option): undoes the world's catalogue order, so the score measures in-context symbol binding.
 */
export function shuffleMmluOptions(task: LoadedTask, rng: Rng): LoadedTask {
  const shuffle = (doc: McDoc): McDoc => {
    const lines = doc.text.split('\n');
    const options = lines.slice(-5, -1).map((line) => line.slice(3));
    const layout = lines.slice(-5).map((line, i) => line.startsWith(i < 4 ? `${'ABCD'[i]}. ` : 'Answer:'));
    if (lines.length < 6 || !layout.every(Boolean)) throw new Error(`${doc.id}: not an MMLU prompt`);
    const order = rng.shuffle([0, 1, 2, 3]);
    const text = mmluText(
      lines.slice(0, -5).join('\n'),
      order.map((i) => options[i] as string),
    );
    return { ...doc, text, gold: order.indexOf(doc.gold) };
  };
  return { ...task, docs: task.docs.map(shuffle), fewshotDocs: task.fewshotDocs?.map(shuffle) };
}

/** CPU seconds used by this process's finished children (Linux /proc; undefined elsewhere). */
export function childCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); cutime and cstime are fields 16 and 17
    const ticks = Number(fields[13]) + Number(fields[14]);
    return Number.isFinite(ticks) ? ticks / 100 : undefined;
  } catch {
    return undefined;
  }
}

export function loadAverage(): number {
  return loadavg()[0] ?? 0;
}

export interface TargetCheck {
  name: string;
  holds: boolean;
  detail: string;
}

/** How long the world took to build, for the time targets. */
export interface WorldTimings {
  generateSeconds: number;
  pretrainSeconds: number;
  instatuneSeconds: number;
}

/** Generation at most 30 s, pre-training plus InstaTune at most 10 minutes (on a 2-core machine). */
export const TIME_TARGETS = { generateSeconds: 30, trainSeconds: 600 };

/** The calibration targets of the embedded world (see the README). */
export function checkTargets(scores: SubnetScores[], timings?: WorldTimings): TargetCheck[] {
  const full = scores[0]!;
  const smallest = scores[scores.length - 1]!;
  const mids = scores.slice(1, -1);
  const above = full.tasks.map((t) => ({ task: t.task, margin: t.acc - t.chance }));
  const gaps = full.tasks.map((t, i) => ({ task: t.task, gap: t.acc - smallest.tasks[i]!.acc }));
  const separated = gaps.filter((g) => g.gap >= 10);
  // An in-between score is "between" unless it lies beyond the full (or smallest) score by more
  // than two standard errors of the difference of the two estimates.
  const twoSe = (a: TaskScore, b: TaskScore): number => 2 * Math.hypot(a.stderr, b.stderr);
  const graded = full.tasks.filter((t, i) => {
    const lo = smallest.tasks[i]!;
    return mids.every((m) => {
      const mid = m.tasks[i]!;
      return mid.acc <= t.acc + twoSe(mid, t) && mid.acc >= lo.acc - twoSe(mid, lo);
    });
  });
  return [
    {
      name: 'full network >= chance + 20 on every task',
      holds: above.every((a) => a.margin >= 20),
      detail: above.map((a) => `${a.task} ${a.margin >= 0 ? '+' : ''}${a.margin.toFixed(1)}`).join(', '),
    },
    {
      name: 'smallest >= 10 points below full on at least 3 tasks',
      holds: separated.length >= 3,
      detail: gaps.map((g) => `${g.task} ${g.gap.toFixed(1)}`).join(', '),
    },
    {
      name: 'in-between sub-networks between smallest and full (within 2 s.e. of the difference) on those tasks',
      holds: separated.length > 0 && separated.every((g) => graded.some((t) => t.task === g.task)),
      detail: `graded on ${graded.map((t) => t.task).join(', ') || 'none'}`,
    },
    ...(timings ? timeTargets(timings) : []),
  ];
}

function timeTargets(t: WorldTimings): TargetCheck[] {
  const train = t.pretrainSeconds + t.instatuneSeconds;
  return [
    {
      name: `world generation <= ${TIME_TARGETS.generateSeconds} s`,
      holds: t.generateSeconds <= TIME_TARGETS.generateSeconds,
      detail: `${t.generateSeconds.toFixed(1)} s`,
    },
    {
      name: `pre-training + InstaTune <= ${TIME_TARGETS.trainSeconds} s`,
      holds: train <= TIME_TARGETS.trainSeconds,
      detail: `${t.pretrainSeconds.toFixed(0)} s + ${t.instatuneSeconds.toFixed(0)} s = ${train.toFixed(0)} s wall`,
    },
  ];
}
