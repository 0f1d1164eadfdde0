import { z } from 'zod';
import type { SubnetSpec } from '../model/types';
import { zodErrorText } from '../zod-error';

/**
 * The elastic search space of LLaMA-NAS: one gene for the layer-count option, then one
 * gene per layer (up to the largest layer count) for that layer's MLP width option. A gene is an
 * index into its sorted option list. Genes of layers at or past the chosen layer count are
 * inactive: the canonical form sets them to 0 and the sub-network key leaves them out.
 */
export const searchSpaceSchema = z.object({
  /** Layer-count options, e.g. [24, 28, 32]. */
  layerCounts: z.array(z.number().int().positive()).min(1),
  /** Width options shared by all layers (e.g. [5504, 11008]), or one list per layer. */
  widths: z.union([
    z.array(z.number().int().positive()).min(1),
    z.array(z.array(z.number().int().positive()).min(1)).min(1),
  ]),
});
export type SearchSpaceInput = z.input<typeof searchSpaceSchema>;

/** A validated space: sorted, distinct options, one width list per layer. */
export interface SearchSpace {
  layerCounts: number[];
  /** widths[i]: the options of layer i, for i < max(layerCounts). */
  widths: number[][];
}

export class SearchSpaceError extends Error {
  override name = 'SearchSpaceError';
}

function sortedDistinct(values: number[], what: string): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1])
      throw new SearchSpaceError(`${what}: option ${sorted[i]} is listed twice`);
  }
  return sorted;
}

export function createSpace(input: SearchSpaceInput | SearchSpace): SearchSpace {
  const parsed = searchSpaceSchema.safeParse(input);
  if (!parsed.success) throw new SearchSpaceError(`search space: ${zodErrorText(parsed.error)}`);
  const layerCounts = sortedDistinct(parsed.data.layerCounts, 'layerCounts');
  const maxLayers = layerCounts[layerCounts.length - 1];
  const w = parsed.data.widths;
  let widths: number[][];
  if (typeof w[0] === 'number') {
    const shared = sortedDistinct(w as number[], 'widths');
    widths = Array.from({ length: maxLayers }, () => shared);
  } else {
    const perLayer = w as number[][];
    if (perLayer.length !== maxLayers) {
      throw new SearchSpaceError(
        `search space: widths has ${perLayer.length} per-layer lists but the largest layer count is ${maxLayers}`,
      );
    }
    widths = perLayer.map((opts, i) => sortedDistinct(opts, `widths[${i}]`));
  }
  return { layerCounts, widths };
}

/** The largest sub-network of a space, every layer at its widest: a campaign's full network. */
export function fullNetwork(space: SearchSpace): SubnetSpec {
  const layers = Math.max(...space.layerCounts);
  return { layers, intermediate: space.widths.slice(0, layers).map((options) => Math.max(...options)) };
}

/** The LLaMA-2-7B space of the paper: {24, 28, 32} layers, {5504, 11008} per layer; 33 genes. */
export function llama2Space(): SearchSpace {
  return createSpace({ layerCounts: [24, 28, 32], widths: [5504, 11008] });
}

export function geneCount(space: SearchSpace): number {
  return 1 + space.widths.length;
}

/** Inclusive integer bounds of each gene. */
export function geneBounds(space: SearchSpace): { lower: number[]; upper: number[] } {
  const upper = [space.layerCounts.length - 1, ...space.widths.map((o) => o.length - 1)];
  return { lower: upper.map(() => 0), upper };
}

function checkGenes(space: SearchSpace, genes: readonly number[]): void {
  if (genes.length !== geneCount(space)) {
    throw new SearchSpaceError(`gene vector has ${genes.length} genes, the space has ${geneCount(space)}`);
  }
  const { upper } = geneBounds(space);
  genes.forEach((g, i) => {
    if (!Number.isInteger(g) || g < 0 || g > upper[i]) {
      throw new SearchSpaceError(`gene ${i} is ${g}, outside 0..${upper[i]}`);
    }
  });
}

export function decode(space: SearchSpace, genes: readonly number[]): SubnetSpec {
  checkGenes(space, genes);
  const layers = space.layerCounts[genes[0]];
  const intermediate: number[] = [];
  for (let i = 0; i < layers; i++) intermediate.push(space.widths[i][genes[1 + i]]);
  return { layers, intermediate };
}

/** Genes of a sub-network, inactive genes 0 (the canonical gene vector). */
export function encode(space: SearchSpace, spec: SubnetSpec): number[] {
  const l = space.layerCounts.indexOf(spec.layers);
  if (l < 0)
    throw new SearchSpaceError(
      `layer count ${spec.layers} is not an option (${space.layerCounts.join(', ')})`,
    );
  if (spec.intermediate.length !== spec.layers) {
    throw new SearchSpaceError(
      `sub-network has ${spec.layers} layers but ${spec.intermediate.length} widths`,
    );
  }
  const genes = new Array<number>(geneCount(space)).fill(0);
  genes[0] = l;
  spec.intermediate.forEach((width, i) => {
    const g = space.widths[i].indexOf(width);
    if (g < 0)
      throw new SearchSpaceError(
        `layer ${i}: width ${width} is not an option (${space.widths[i].join(', ')})`,
      );
    genes[1 + i] = g;
  });
  return genes;
}

/** The same gene vector with its inactive genes set to 0. */
export function canonicalGenes(space: SearchSpace, genes: readonly number[]): number[] {
  checkGenes(space, genes);
  const layers = space.layerCounts[genes[0]];
  return genes.map((g, i) => (i === 0 || i <= layers ? g : 0));
}

/**
 * The canonical key of a sub-network, independent of the space's encoding: the layer count,
 * then the widths run-length encoded, e.g. "24:11008x16,5504x8".
 */
export function subnetKey(spec: SubnetSpec): string {
  const runs: string[] = [];
  let i = 0;
  while (i < spec.intermediate.length) {
    let j = i;
    while (j + 1 < spec.intermediate.length && spec.intermediate[j + 1] === spec.intermediate[i]) j++;
    runs.push(`${spec.intermediate[i]}x${j - i + 1}`);
    i = j + 1;
  }
  return `${spec.layers}:${runs.join(',')}`;
}

export function parseSubnetKey(key: string): SubnetSpec {
  const m = /^(\d+):((?:\d+x\d+)(?:,\d+x\d+)*)?$/.exec(key);
  if (!m) throw new SearchSpaceError(`malformed sub-network key "${key}"`);
  const layers = Number(m[1]);
  const intermediate: number[] = [];
  for (const run of (m[2] ?? '').split(',').filter(Boolean)) {
    const [width, count] = run.split('x').map(Number);
    for (let k = 0; k < count; k++) intermediate.push(width);
  }
  if (intermediate.length !== layers) {
    throw new SearchSpaceError(
      `sub-network key "${key}" lists ${intermediate.length} widths for ${layers} layers`,
    );
  }
  return { layers, intermediate };
}

export function genesKey(space: SearchSpace, genes: readonly number[]): string {
  return subnetKey(decode(space, genes));
}

/** Gene vectors (with inactive genes) and distinct architectures (canonical forms). */
export function spaceSize(space: SearchSpace): { genotypes: bigint; architectures: bigint } {
  let genotypes = BigInt(space.layerCounts.length);
  for (const opts of space.widths) genotypes *= BigInt(opts.length);
  let architectures = 0n;
  for (const layers of space.layerCounts) {
    let n = 1n;
    for (let i = 0; i < layers; i++) n *= BigInt(space.widths[i].length);
    architectures += n;
  }
  return { genotypes, architectures };
}
