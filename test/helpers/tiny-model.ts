import { join } from 'node:path';
import type { LlamaConfig } from '../../src/model/config';
import { tinyConfig, writeRandomCheckpoint } from '../fixtures/model/random-checkpoint';
import { tempDir } from './temp-dir';

/**
 * For the tests of one describe block: a temporary folder `dir` holding a random tiny checkpoint
 * (with its tokenizer) at `model`. Read the paths inside the tests: they are set in beforeAll.
 */
export function tinyCheckpointFolder(
  prefix: string,
  config: Partial<LlamaConfig>,
  seed: number,
): { dir: string; model: string } {
  const tmp = tempDir(prefix, (dir) =>
    writeRandomCheckpoint(join(dir, 'model'), tinyConfig(config), seed, { tokenizer: true }),
  );
  return {
    get dir() {
      return tmp.path;
    },
    get model() {
      return join(tmp.path, 'model');
    },
  };
}

/**
 * tinyCheckpointFolder with the state folder (LLAMA_NAS_HOME) in it, at `dir`/home; the previous
 * one is restored afterwards.
 */
export function tinyModelFolder(
  prefix: string,
  config: Partial<LlamaConfig>,
  seed: number,
): { dir: string; model: string } {
  const tiny = tinyCheckpointFolder(prefix, config, seed);
  const home = process.env.LLAMA_NAS_HOME;
  beforeAll(() => {
    process.env.LLAMA_NAS_HOME = join(tiny.dir, 'home');
  });
  afterAll(() => {
    process.env.LLAMA_NAS_HOME = home;
  });
  return tiny;
}
