import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPrebuiltBundle, writeWorkflowBundle } from '../../workers/bundle';
import { parseQueueSpec } from '../../workers/queues';

describe('the prebuilt workflow bundle', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llama-nas-bundle-'));
    await writeWorkflowBundle(dir);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const manifestFile = () => join(dir, 'workflow-bundle.json');
  const manifest = () =>
    JSON.parse(readFileSync(manifestFile(), 'utf8')) as { sdk: string; sources: Record<string, string> };

  it('is used when it matches the sources it was built from', () => {
    expect(Object.keys(manifest().sources)).toEqual(
      expect.arrayContaining(['workflows/index.ts', 'workflows/campaign.ts', 'src/queues.ts']),
    );
    // type-only imports are erased: the activities and the heavy library are not bundled
    expect(
      Object.keys(manifest().sources).filter((f) =>
        /^(activities|src\/(eval|model|search|campaign))\//.test(f),
      ),
    ).toEqual([]);
    expect(findPrebuiltBundle(dir)).toEqual({ codePath: join(dir, 'workflow-bundle.js') });
    expect(readFileSync(join(dir, 'workflow-bundle.js'), 'utf8')).toContain('llamaNasCampaign');
  });

  it('is not used once a source changed, or with another SDK, or when absent', () => {
    const good = readFileSync(manifestFile(), 'utf8');
    try {
      const m = manifest();
      m.sources['workflows/search.ts'] = '0'.repeat(64);
      writeFileSync(manifestFile(), JSON.stringify(m));
      expect(findPrebuiltBundle(dir)).toEqual({ missing: expect.stringContaining('workflows/search.ts') });
      writeFileSync(manifestFile(), JSON.stringify({ ...manifest(), sdk: '0.0.1' }));
      expect(findPrebuiltBundle(dir)).toEqual({
        missing: expect.stringContaining('@temporalio/workflow 0.0.1'),
      });
    } finally {
      writeFileSync(manifestFile(), good);
    }
    expect(findPrebuiltBundle(join(dir, 'nothing'))).toEqual({
      missing: expect.stringContaining('npm run build:workflows'),
    });
  });
});

describe('worker queue spec', () => {
  it('takes a task queue name per role', () => {
    expect(parseQueueSpec('main=ci-main, eval')).toEqual({
      roles: ['main', 'eval'],
      taskQueues: { main: 'ci-main' },
    });
    expect(() => parseQueueSpec('main=')).toThrow(/names no task queue/);
    expect(() => parseQueueSpec('gpu=x')).toThrow(/unknown queue "gpu"/);
  });
});
