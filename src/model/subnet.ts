import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { LlamaConfig } from './config';
import type { SubnetSpec } from './types';
import { zodErrorText } from '../zod-error';

/** A sub-network spec that is malformed or does not fit its base model. */
export class SubnetSpecError extends Error {
  override name = 'SubnetSpecError';
}

const SubnetSpecSchema = z.strictObject({
  layers: z.number().int().positive(),
  intermediate: z.array(z.number().int().positive()).min(1),
});

/** The base model dimensions a spec is checked against. */
export type SubnetBase = Pick<LlamaConfig, 'numLayers' | 'intermediateSize'>;

/**
 * Validates a spec against the base and returns its canonical form: exactly `layers` widths.
 * `intermediate` may list one width per active layer or one per base layer; widths of layers
 * at or past `layers` are inactive and ignored.
 */
export function canonicalSubnet(spec: unknown, base: SubnetBase, source = 'sub-network spec'): SubnetSpec {
  const parsed = SubnetSpecSchema.safeParse(spec);
  if (!parsed.success) throw new SubnetSpecError(`${source}: ${zodErrorText(parsed.error)}`);
  const { layers, intermediate } = parsed.data;
  if (layers > base.numLayers) {
    throw new SubnetSpecError(
      `${source}: layers is ${layers}, but the base model has only ${base.numLayers}`,
    );
  }
  if (intermediate.length !== layers && intermediate.length !== base.numLayers) {
    throw new SubnetSpecError(
      `${source}: intermediate has ${intermediate.length} entries; expected ${layers} (one per active layer) ` +
        `or ${base.numLayers} (one per base layer)`,
    );
  }
  const active = intermediate.slice(0, layers);
  active.forEach((k, i) => {
    if (k > base.intermediateSize) {
      throw new SubnetSpecError(
        `${source}: intermediate[${i}] is ${k}, larger than the base model's intermediate size ${base.intermediateSize}`,
      );
    }
  });
  return { layers, intermediate: active };
}

/** The full network of a base model as a spec. */
export function fullSubnet(base: SubnetBase): SubnetSpec {
  return {
    layers: base.numLayers,
    intermediate: new Array<number>(base.numLayers).fill(base.intermediateSize),
  };
}

/** Canonical JSON text of a canonical spec (fixed key order, no spaces). */
export function canonicalSubnetJson(spec: SubnetSpec): string {
  return JSON.stringify({ layers: spec.layers, intermediate: spec.intermediate });
}

/** Stable content hash of a canonical spec (hex, 16 characters). */
export function subnetHash(spec: SubnetSpec): string {
  return createHash('sha256').update(canonicalSubnetJson(spec)).digest('hex').slice(0, 16);
}

/** Parses a spec given on a command line: JSON text, or @FILE holding JSON. Not yet checked against a base. */
export function readSubnetArg(arg: string): { json: unknown; source: string } {
  let text = arg;
  let source = 'sub-network spec';
  if (arg.startsWith('@')) {
    source = arg.slice(1);
    try {
      text = readFileSync(source, 'utf8');
    } catch {
      throw new SubnetSpecError(`${source}: cannot read the sub-network spec file`);
    }
  }
  try {
    return { json: JSON.parse(text), source };
  } catch (err) {
    throw new SubnetSpecError(`${source}: not valid JSON (${(err as Error).message})`);
  }
}
