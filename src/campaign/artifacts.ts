import { existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Analysis } from '../analysis';
import { openCheckpoint } from '../model/checkpoint';
import { EXPORT_MODEL_FILE, EXPORT_WEIGHTS_FILE, exportSubnet } from '../model/export';
import { type GgufExportType, exportGguf } from '../model/gguf-convert';
import { subnetHash } from '../model/subnet';
import type { SubnetSpec } from '../model/types';
import type { Quant } from './types';

/** One deployable model of a front point: its ONNX folder and its GGUF file, paths relative to the report. */
export interface ArtifactRow {
  task: string;
  front: string;
  key: string;
  layers: number;
  widths: string;
  quant: Quant;
  accuracy: number;
  onnx: string;
  onnxBytes: number;
  gguf: string;
  ggufType: GgufExportType;
  ggufArchitecture: 'llama' | 'deci';
  ggufBytes: number;
}

/** The GGUF storage of a quantization level: float fronts in F16, int8 fronts in Q8_0 (int4 too: GGUF export has no 4-bit type here). */
export const GGUF_TYPE_OF: Record<Quant, GgufExportType> = { none: 'F16', int8: 'Q8_0', int4: 'Q8_0' };

/**
 * Exports every point of the size-accuracy fronts as ONNX (with its quantization) and GGUF, into
 * `<reportDir>/models/<subnet hash>-<quant>/` (model.onnx, model.weights, subnet.json,
 * model.gguf); a model shared by several fronts is written once, and an existing one is kept
 * (a re-run of the report does not redo them).
 */
export async function exportFrontArtifacts(
  analysis: Analysis,
  superNetwork: string,
  subnets: Map<string, SubnetSpec>,
  reportDir: string,
): Promise<ArtifactRow[]> {
  const ckpt = await openCheckpoint(superNetwork);
  const rows: ArtifactRow[] = [];
  for (const front of analysis.fronts) {
    if (front.space !== 'size-accuracy') continue;
    for (const p of front.points) {
      const spec = subnets.get(p.key);
      if (!spec) throw new Error(`front ${front.id}: no sub-network recorded for key ${p.key}`);
      const dir = join(reportDir, 'models', `${subnetHash(spec)}-${p.quant}`);
      const gguf = join(dir, 'model.gguf');
      const ggufType = GGUF_TYPE_OF[p.quant];
      if (!existsSync(join(dir, EXPORT_MODEL_FILE))) await exportSubnet(ckpt, spec, dir, p.quant);
      const arch = spec.intermediate.every((w) => w === spec.intermediate[0]) ? 'llama' : 'deci';
      if (!existsSync(gguf))
        await exportGguf(ckpt, spec, gguf, ggufType, `${front.task} front point ${p.key}`);
      rows.push({
        task: front.task,
        front: front.id,
        key: p.key,
        layers: p.layers,
        widths: p.widths,
        quant: p.quant,
        accuracy: p.accuracy,
        onnx: relative(reportDir, join(dir, EXPORT_MODEL_FILE)),
        onnxBytes:
          statSync(join(dir, EXPORT_MODEL_FILE)).size + statSync(join(dir, EXPORT_WEIGHTS_FILE)).size,
        gguf: relative(reportDir, gguf),
        ggufType,
        ggufArchitecture: arch,
        ggufBytes: statSync(gguf).size,
      });
    }
  }
  return rows;
}
