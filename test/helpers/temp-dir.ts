import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * For the tests of one describe block: a temporary folder, made (then filled by `setup`, if
 * given) in beforeAll and removed in afterAll. Read `path` inside the tests.
 */
export function tempDir(prefix: string, setup?: (dir: string) => void): { path: string } {
  const tmp = { path: '' };
  beforeAll(() => {
    tmp.path = mkdtempSync(join(tmpdir(), prefix));
    setup?.(tmp.path);
  });
  afterAll(() => tmp.path && rmSync(tmp.path, { recursive: true, force: true }));
  return tmp;
}
