import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { z } from 'zod';
import { writeFileAtomic, writeJsonAtomic } from '../src/fsutil';

/**
 * Production workers load workflow code bundled at build time (`npm run build:workflows`), as
 * Temporal's production sample does, instead of running webpack at every start. The manifest
 * next to the bundle records a hash of every project file webpack read, so a bundle that no
 * longer matches the sources (a checkout edited after the build) is not used.
 */
export const REPO_ROOT = resolve(__dirname, '..');
export const WORKFLOWS_PATH = require.resolve('../workflows');
export const DEFAULT_BUNDLE_DIR = join(REPO_ROOT, 'dist');
const BUNDLE_FILE = 'workflow-bundle.js';
const MANIFEST_FILE = 'workflow-bundle.json';

const ManifestSchema = z.object({
  sdk: z.string(),
  /** Project files (relative to the repository root) in the bundle, with their sha256. */
  sources: z.record(z.string(), z.string()),
});
type Manifest = z.infer<typeof ManifestSchema>;

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function sdkVersion(): string {
  const pkg = JSON.parse(readFileSync(require.resolve('@temporalio/workflow/package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function quietLogger() {
  const noop = (): void => undefined;
  return { log: noop, trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error };
}

/** A project source file (not a dependency, not webpack's generated entry point). */
function isProjectSource(file: string): boolean {
  if (!isAbsolute(file) || !existsSync(file) || !statSync(file).isFile()) return false;
  const rel = relative(REPO_ROOT, file);
  return !rel.startsWith('..') && !rel.split(sep).includes('node_modules');
}

/** Bundles the workflows and lists the project files webpack read to build the bundle. */
export async function bundleWorkflows(): Promise<{ bundle: WorkflowBundleWithSourceMap; sources: string[] }> {
  const read = new Set<string>();
  const bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: quietLogger(),
    webpackConfigHook: (config) => ({
      ...config,
      plugins: [
        ...(config.plugins ?? []),
        {
          apply(compiler) {
            compiler.hooks.afterCompile.tap('llama-nas-sources', (compilation) => {
              for (const file of compilation.fileDependencies) read.add(file);
            });
          },
        },
      ],
    }),
  });
  return { bundle, sources: [...read].filter(isProjectSource).sort() };
}

function manifestFor(sources: string[]): Manifest {
  return {
    sdk: sdkVersion(),
    sources: Object.fromEntries(sources.map((f) => [relative(REPO_ROOT, f), sha256(f)])),
  };
}

/** Writes dir/workflow-bundle.js and its manifest (the build step of the image). */
export async function writeWorkflowBundle(
  dir = DEFAULT_BUNDLE_DIR,
): Promise<{ codePath: string; sources: number }> {
  const { bundle, sources } = await bundleWorkflows();
  if (!sources.some((f) => f.startsWith(join(REPO_ROOT, 'workflows'))))
    throw new Error(
      'the workflow bundle lists no file of workflows/: cannot tell whether it matches its sources',
    );
  const codePath = join(dir, BUNDLE_FILE);
  writeFileAtomic(codePath, bundle.code);
  writeJsonAtomic(join(dir, MANIFEST_FILE), manifestFor(sources));
  return { codePath, sources: sources.length };
}

export type PrebuiltBundle = { codePath: string } | { missing: string };

/**
 * The bundle in `dir` when it was built from the sources as they are now; otherwise why not
 * (no bundle, another SDK version, a changed or missing source file).
 */
export function findPrebuiltBundle(dir = DEFAULT_BUNDLE_DIR): PrebuiltBundle {
  const codePath = join(dir, BUNDLE_FILE);
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(codePath) || !existsSync(manifestPath))
    return { missing: `no prebuilt bundle in ${dir} (npm run build:workflows)` };
  const parsed = ManifestSchema.safeParse(JSON.parse(readFileSync(manifestPath, 'utf8')));
  if (!parsed.success) return { missing: `${manifestPath}: not a workflow bundle manifest` };
  const manifest = parsed.data;
  if (manifest.sdk !== sdkVersion())
    return {
      missing: `${codePath} was built with @temporalio/workflow ${manifest.sdk}, not ${sdkVersion()}`,
    };
  for (const [rel, hash] of Object.entries(manifest.sources)) {
    const file = join(REPO_ROOT, rel);
    if (!existsSync(file) || sha256(file) !== hash)
      return { missing: `${codePath} is older than ${rel} (rebuild with npm run build:workflows)` };
  }
  return { codePath };
}
