import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateWorld } from '../../src/world/calibrate';
import { ensureEmbeddedWorld } from '../../src/world/embedded';

/**
 * A reduced world trained for real with the project's trainer, scored with the project's
 * evaluator: the full network must beat chance clearly on ARC-Easy. The reduced world's 4-layer
 * model (config/world/reduced.json) keeps it to a minute or two of CPU.
 */
describe('the embedded world, reduced', () => {
  let cacheDir: string;
  beforeAll(() => {
    cacheDir = mkdtempSync(join(tmpdir(), 'world-it-'));
  });
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('pre-trains a model that beats chance clearly, and a second call hits the cache', async () => {
    const stages = new Set<string>();
    const world = await ensureEmbeddedWorld({
      seed: 3,
      scale: 'reduced',
      cacheDir,
      onProgress: (p) => stages.add(p.stage),
    });
    expect(stages).toEqual(new Set(['generate', 'pretrain']));

    const [full] = await evaluateWorld(
      world.baseModelDir,
      world.tasks,
      [{ name: 'full', spec: { layers: 4, intermediate: [344, 344, 344, 344] } }],
      { tasks: ['arc_easy'] },
    );
    const arc = full!.tasks[0]!;
    expect(arc.n).toBeGreaterThan(50);
    expect(arc.acc).toBeGreaterThan(arc.chance + 15);

    const messages: string[] = [];
    const again = await ensureEmbeddedWorld({
      seed: 3,
      scale: 'reduced',
      cacheDir,
      onProgress: (p) => messages.push(p.message),
    });
    expect(again.baseModelDir).toBe(world.baseModelDir);
    expect(messages).toEqual([expect.stringMatching(/found in the cache/)]);
  }, 900_000);
});
