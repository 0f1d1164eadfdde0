import type { CampaignResult } from '../workflows/campaign';
import type { EvaluationResult } from '../activities/types';

export interface SummaryRow {
  task: string;
  full: EvaluationResult;
  /** The most accurate front member of at most `maxFraction` of the full size. */
  best?: EvaluationResult;
  quantized?: EvaluationResult;
}

/** Per task: the full network, the best sub-network of at most 75% of its size, and that one quantized. */
export function summarise(
  result: CampaignResult,
  maxFraction = 0.75,
  quant: 'int8' | 'int4' = 'int8',
): SummaryRow[] {
  return result.fullNetwork.map((full) => {
    const front = result.fronts[full.task] ?? [];
    const small = front
      .filter((p) => p.objectives.size_gib * 2 ** 30 <= maxFraction * full.sizeBytes + 1)
      .sort(
        (a, b) =>
          b.objectives.accuracy - a.objectives.accuracy || a.objectives.size_gib - b.objectives.size_gib,
      )[0];
    const pick = (q: string, key: string) =>
      [...result.quantized, ...result.fullNetwork].find(
        (r) => r.task === full.task && r.quant === q && r.key === key,
      );
    const best = small
      ? ({
          ...full,
          key: small.key,
          subnet: small.subnet,
          accuracy: small.objectives.accuracy,
          sizeBytes: small.objectives.size_gib * 2 ** 30,
        } satisfies EvaluationResult)
      : undefined;
    return { task: full.task, full, best, quantized: best ? pick(quant, best.key) : undefined };
  });
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

export function formatSummary(rows: SummaryRow[]): string {
  const header = [
    'task',
    'full: size',
    'acc',
    'best <=75%: layers',
    'size',
    'acc',
    'delta',
    'int8: size',
    'acc',
  ];
  const lines = rows.map((r) => [
    r.task,
    mib(r.full.sizeBytes),
    pct(r.full.accuracy),
    r.best
      ? `${r.best.subnet.layers} (${Math.round((100 * r.best.sizeBytes) / r.full.sizeBytes)}% size)`
      : '-',
    r.best ? mib(r.best.sizeBytes) : '-',
    r.best ? pct(r.best.accuracy) : '-',
    r.best ? `${((r.best.accuracy - r.full.accuracy) * 100).toFixed(1)} pt` : '-',
    r.quantized ? mib(r.quantized.sizeBytes) : '-',
    r.quantized ? pct(r.quantized.accuracy) : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n');
}
