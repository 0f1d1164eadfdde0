import type { LlamaConfig } from './config';
import { expectedTensorShapes } from './checkpoint';
import { elementCount } from './safetensors';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Seeded random weights for every tensor a config implies (for benchmarks and tests): linear
 * weights uniform with variance about 1/fan-in, norm weights near 1.
 */
export function randomWeights(config: LlamaConfig, seed: number): Map<string, Float32Array> {
  const rand = seededRandom(seed);
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of expectedTensorShapes(config)) {
    const data = new Float32Array(elementCount(shape));
    const isNorm = shape.length === 1;
    const scale = isNorm ? 0.2 : 1.7 / Math.sqrt(shape[1]!);
    for (let i = 0; i < data.length; i++) data[i] = (isNorm ? 1 : 0) + (rand() * 2 - 1) * scale;
    weights.set(name, data);
  }
  return weights;
}
