import { mmluCategory, MMLU_CATEGORIES } from './mmlu-categories';
import type { PreparedTask } from './prepare';
import type { TextRequest } from './prompts';
import type { MetricName } from './types';

/** numpy.argmax: the first maximum (a NaN counts as the maximum, as numpy treats it). */
export function argmax(values: number[]): number {
  let best = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i]!)) return i;
    if (values[i]! > values[best]!) best = i;
  }
  return best;
}

export function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Standard error of the mean with the sample standard deviation (n - 1); null (the harness's "N/A") below two items. */
export function meanStderr(values: number[]): number | null {
  if (values.length < 2) return null;
  const mu = mean(values);
  const variance = values.reduce((a, x) => a + (x - mu) ** 2, 0) / (values.length - 1);
  return Math.sqrt(variance) / Math.sqrt(values.length);
}

/** The harness's stderr of a size-weighted group mean (pooled_sample_stderr over its subtasks). */
export function pooledStderr(stderrs: (number | null)[], sizes: number[]): number | null {
  if (stderrs.some((s) => s === null)) return null;
  const total = sizes.reduce((a, b) => a + b, 0);
  const pooledVariance =
    stderrs.reduce<number>((a, s, i) => a + (sizes[i]! - 1) * s! ** 2 * sizes[i]!, 0) /
    (total - sizes.length);
  return Math.sqrt(pooledVariance / total);
}

/** One question's scores, as the per-item output records them. */
export interface ItemResult {
  doc_id: number;
  id: string;
  subject?: string;
  source: string;
  gold: number;
  /** Summed log-probability of each choice's continuation. */
  loglikelihoods: number[];
  /** Code points of each choice, the acc_norm denominators. */
  choice_lengths: number[];
  pred: number;
  acc: number;
  pred_norm: number;
  acc_norm: number;
  shots: string[];
  arguments?: TextRequest[];
}

export function itemResults(prepared: PreparedTask, loglikelihoods: number[][]): ItemResult[] {
  return prepared.items.map((item, i) => {
    const lls = loglikelihoods[i]!;
    const pred = argmax(lls);
    const predNorm = argmax(lls.map((ll, c) => ll / item.choiceLengths[c]!));
    return {
      doc_id: item.docIndex,
      id: item.doc.id,
      ...(item.doc.subject !== undefined ? { subject: item.doc.subject } : {}),
      source: `${item.doc.source.file}:${item.doc.source.line}`,
      gold: item.doc.gold,
      loglikelihoods: lls,
      choice_lengths: item.choiceLengths,
      pred,
      acc: pred === item.doc.gold ? 1 : 0,
      pred_norm: predNorm,
      acc_norm: predNorm === item.doc.gold ? 1 : 0,
      shots: item.shotIds,
      ...(item.text ? { arguments: item.text } : {}),
    };
  });
}

/** Metrics of one task or group, keyed as harness users read them (without the ",none" filter suffix). */
export interface MetricValues {
  alias: string;
  acc: number;
  acc_stderr: number | null;
  acc_norm?: number;
  acc_norm_stderr?: number | null;
  samples: number;
}

function leafMetrics(alias: string, items: ItemResult[], metrics: readonly MetricName[]): MetricValues {
  const acc = items.map((r) => r.acc);
  const out: MetricValues = { alias, acc: mean(acc), acc_stderr: meanStderr(acc), samples: items.length };
  if (metrics.includes('acc_norm')) {
    const norm = items.map((r) => r.acc_norm);
    out.acc_norm = mean(norm);
    out.acc_norm_stderr = meanStderr(norm);
  }
  return out;
}

function groupMetrics(alias: string, leaves: MetricValues[]): MetricValues {
  const sizes = leaves.map((l) => l.samples);
  const total = sizes.reduce((a, b) => a + b, 0);
  return {
    alias,
    acc: leaves.reduce((a, l) => a + l.acc * l.samples, 0) / total,
    acc_stderr: pooledStderr(
      leaves.map((l) => l.acc_stderr),
      sizes,
    ),
    samples: total,
  };
}

export interface Aggregated {
  /** The task itself first; for MMLU also its four categories and each subject (mmlu_<subject>). */
  results: Record<string, MetricValues>;
  /** Group name to its members, as the harness's group_subtasks. */
  groupSubtasks: Record<string, string[]>;
}

/**
 * Task metrics. MMLU, like the harness's mmlu group, is the size-weighted mean of its subjects
 * (the mean over all questions) with the pooled standard error of the subjects.
 */
export function aggregate(prepared: PreparedTask, items: ItemResult[]): Aggregated {
  const def = prepared.definition;
  if (items.length === 0) throw new Error(`${def.name}: nothing was evaluated`);
  if (def.name !== 'mmlu')
    return { results: { [def.name]: leafMetrics(def.name, items, def.metrics) }, groupSubtasks: {} };
  const subjects = [...new Set(items.map((r) => r.subject!))].sort();
  const leaves = new Map(
    subjects.map((s) => [
      s,
      leafMetrics(
        s,
        items.filter((r) => r.subject === s),
        def.metrics,
      ),
    ]),
  );
  const results: Record<string, MetricValues> = { mmlu: groupMetrics('mmlu', [...leaves.values()]) };
  const groupSubtasks: Record<string, string[]> = { mmlu: [] };
  for (const category of Object.keys(MMLU_CATEGORIES)) {
    const members = subjects.filter((s) => mmluCategory(s) === category);
    if (members.length === 0) continue;
    results[`mmlu_${category}`] = groupMetrics(
      category.replace(/_/g, ' '),
      members.map((s) => leaves.get(s)!),
    );
    groupSubtasks.mmlu!.push(`mmlu_${category}`);
    groupSubtasks[`mmlu_${category}`] = members.map((s) => `mmlu_${s}`);
  }
  const uncategorised = subjects.filter((s) => mmluCategory(s) === undefined);
  groupSubtasks.mmlu!.push(...uncategorised.map((s) => `mmlu_${s}`));
  for (const s of subjects) results[`mmlu_${s}`] = leaves.get(s)!;
  return { results, groupSubtasks };
}
