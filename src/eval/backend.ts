import { openSubnet } from '../model/runtime';
import type { SequenceScorer, SubnetSpec } from '../model/types';

/**
 * What scores a sub-network: ONNX Runtime here, other engines behind the same contract. The
 * evaluation pipeline (pipeline.ts) opens one scorer per evaluation through it.
 */
export interface ScoringBackend {
  /** 'onnx' | 'torch' ...; with `numerics` part of every evaluation-cache key. */
  readonly name: string;
  /** What changes the figures besides the sub-network: e.g. { backend: 'onnx', dtype: 'float32' }. */
  readonly numerics: Record<string, string>;
  openSubnet(
    modelDir: string,
    subnet: SubnetSpec,
    opts: { quant?: string; signal?: AbortSignal },
  ): Promise<SequenceScorer>;
  close(): Promise<void>;
}

export interface OnnxBackendOptions {
  /** Intra-op threads of each session (default: all cores). */
  threads?: number;
  /** Cache of exported sub-networks (default: stateDir()/onnx). */
  cacheDir?: string;
}

/** Sub-networks exported to ONNX (cached) and run by ONNX Runtime in float32 (src/model/runtime.ts). */
export function onnxBackend(opts: OnnxBackendOptions = {}): ScoringBackend {
  return {
    name: 'onnx',
    numerics: { backend: 'onnx', dtype: 'float32' },
    openSubnet: (modelDir, subnet, { quant }) =>
      openSubnet(modelDir, subnet, { threads: opts.threads, cacheDir: opts.cacheDir, quant }),
    close: async () => undefined,
  };
}

/**
 * The same backend, each sub-network opened once and kept open until close(): for scoring one
 * sub-network several times in a row (a benchmark's paths, a calibration's tasks), where each
 * evaluation would otherwise load its own session. close() closes those sessions; the wrapped
 * backend stays open, its owner's to close.
 */
export function keepSessionsOpen(backend: ScoringBackend): ScoringBackend {
  const open = new Map<string, Promise<SequenceScorer>>();
  return {
    name: backend.name,
    numerics: backend.numerics,
    openSubnet: async (modelDir, subnet, opts) => {
      const id = JSON.stringify([modelDir, subnet, opts.quant ?? 'none']);
      let scorer = open.get(id);
      if (!scorer) {
        scorer = backend.openSubnet(modelDir, subnet, opts);
        open.set(id, scorer);
        scorer.catch(() => open.delete(id));
      }
      const shared = await scorer;
      return {
        get maxLength() {
          return shared.maxLength;
        },
        scorePacked: (rows) => shared.scorePacked(rows),
        close: async () => undefined,
      };
    },
    close: async () => {
      const scorers = await Promise.allSettled(open.values());
      open.clear();
      for (const s of scorers) if (s.status === 'fulfilled') await s.value.close();
    },
  };
}
