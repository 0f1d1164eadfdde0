import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LlamaConfig } from '../../src/model/config';
import { tinyConfig, writeRandomCheckpoint } from '../fixtures/model/random-checkpoint';

/**
 * For the tests of one describe block: a temporary folder holding a random tiny checkpoint (with
 * its tokenizer) and the state folder (LLAMA_NAS_HOME, restored afterwards). Read the paths
 * inside the tests: they are set in beforeAll.
 */
export function tinyModelFolder(
  prefix: string,
  config: Partial<LlamaConfig>,
  seed: number,
): { dir: string; model: string } {
  const paths = { dir: '', model: '' };
  const home = process.env.LLAMA_NAS_HOME;
  beforeAll(() => {
    paths.dir = mkdtempSync(join(tmpdir(), prefix));
    paths.model = join(paths.dir, 'model');
    writeRandomCheckpoint(paths.model, tinyConfig(config), seed, { tokenizer: true });
    process.env.LLAMA_NAS_HOME = join(paths.dir, 'home');
  });
  afterAll(() => {
    process.env.LLAMA_NAS_HOME = home;
    rmSync(paths.dir, { recursive: true, force: true });
  });
  return paths;
}
