import { heuristicArchitecture } from '../analysis/analyse';
import type { CampaignResults, EvaluationRecord } from '../analysis/types';
import { loadLlamaConfig } from '../model/config';
import { countParameters, modelSize } from '../model/size';
import type { SubnetSpec } from '../model/types';
import { createSpace, fullNetwork, subnetKey, type SearchSpace } from '../search/space';

/** What the campaign knows of one evaluation (the activities' EvaluationResult, structurally). */
export interface CampaignEvaluation {
  key: string;
  task: string;
  quant: 'none' | 'int8' | 'int4';
  subnet: SubnetSpec;
  accuracy: number;
  accuracyStderr: number;
  parameters: number;
  sizeBytes: number;
  throughput?: number;
}

export interface CampaignSummaryInput {
  config: { name: string; evaluation: { sizeDtype: 'f32' | 'f16' | 'bf16' } };
  space: SearchSpace;
  /** Absent in campaigns prepared before #16 (their space as configured): derived from the space then. */
  fullNetwork?: SubnetSpec;
  baseModelName: string;
}

/** The campaign's evaluations in the analysis's input shape (results.json). */
export function buildCampaignResults(
  campaign: CampaignSummaryInput,
  superNetwork: string,
  evaluations: CampaignEvaluation[],
  heuristicKeys: string[],
  /** Per task, the LINAS loop (1-based) that evaluated each sub-network key. */
  loops: Record<string, Record<string, number>> = {},
): CampaignResults {
  const base = loadLlamaConfig(superNetwork);
  const heuristics = new Set(heuristicKeys);
  const full = campaign.fullNetwork ?? fullNetwork(createSpace(campaign.space));
  const fullKey = subnetKey(full);
  const records: EvaluationRecord[] = evaluations.map((e) => ({
    task: e.task,
    subnet: e.subnet,
    key: e.key,
    accuracy: e.accuracy,
    accuracyStderr: e.accuracyStderr,
    parameters: e.parameters,
    sizeBytes: e.sizeBytes,
    ...(e.throughput !== undefined ? { throughput: e.throughput } : {}),
    quant: e.quant,
    ...(e.quant === 'none' && loops[e.task]?.[e.key] ? { loop: loops[e.task]![e.key]! - 1 } : {}),
    isFull: e.key === fullKey,
    origin: e.quant !== 'none' ? 'front' : heuristics.has(e.key) ? 'heuristic' : 'search',
  }));
  return {
    campaign: {
      name: campaign.config.name,
      baseModel: campaign.baseModelName,
      createdAt: new Date().toISOString(),
    },
    fullModel: {
      parameters: countParameters(base, full).total,
      sizeBytes: modelSize(base, full, campaign.config.evaluation.sizeDtype).bytes,
      layers: full.layers,
      layerOptions: campaign.space.layerCounts,
      intermediateOptions: campaign.space.widths,
    },
    records,
  };
}

/**
 * For each task, the architecture the width analysis suggests at the layer count most
 * frequent among the best fifth of the float sub-networks (upper 20th percentile).
 */
export function suggestHeuristicSubnets<T extends string>(
  evaluations: CampaignEvaluation[],
  tasks: T[],
  percentile = 20,
): { task: T; subnet: SubnetSpec }[] {
  const out: { task: T; subnet: SubnetSpec }[] = [];
  const records = evaluations.map((e) => ({ ...e, quant: e.quant, origin: 'search' as const }));
  for (const task of tasks) {
    const float = records
      .filter((r) => r.task === task && r.quant === 'none')
      .sort((a, b) => b.accuracy - a.accuracy);
    if (float.length < 5) continue;
    const top = float.slice(0, Math.max(1, Math.ceil(float.length * (percentile / 100))));
    const counts = new Map<number, number>();
    for (const r of top) counts.set(r.subnet.layers, (counts.get(r.subnet.layers) ?? 0) + 1);
    const layers = [...counts.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]![0];
    out.push({ task, subnet: heuristicArchitecture(records, task, layers, percentile) });
  }
  return out;
}
