import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const FILE = join(__dirname, '../../docker-compose.yml');

function composeCommand(): string[] | undefined {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0)
    return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  return undefined;
}

describe('docker-compose.yml', () => {
  const dockerClient = spawnSync('docker', ['--version'], { stdio: 'ignore' }).status === 0;

  it('is valid for docker compose (where the docker client exists)', () => {
    const compose = composeCommand();
    if (dockerClient && !compose) {
      throw new Error(
        'the docker client is here but neither `docker compose` nor `docker-compose` is: run npm run provision',
      );
    }
    if (!compose)
      return void console.warn(
        'no docker client: docker compose config not run; the structure is still checked below',
      );
    const r = spawnSync(compose[0]!, [...compose.slice(1), '-f', FILE, 'config', '-q'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('runs a PostgreSQL-backed Temporal, its UI, and evaluation and GPU training workers on named volumes', () => {
    const doc = parse(readFileSync(FILE, 'utf8'), { merge: true }) as {
      services: Record<
        string,
        {
          image?: string;
          command?: string[];
          deploy?: unknown;
          volumes?: string[];
          environment?: Record<string, string>;
        }
      >;
      volumes: Record<string, unknown>;
    };
    const s = doc.services;
    expect(s.postgresql?.image).toMatch(/^postgres:/);
    expect(s.temporal?.environment?.DB).toBe('postgres12');
    expect(s['temporal-ui']?.image).toMatch(/^temporalio\/ui:/);
    expect(s['worker-eval']?.command).toEqual(expect.arrayContaining(['worker', '--queues', 'eval']));
    expect(JSON.stringify(s['worker-train']?.deploy)).toContain('gpu');
    // the GPU evaluation worker scores with the PyTorch backend on its GPU
    expect(s['worker-eval-gpu']?.command).toEqual(
      expect.arrayContaining(['worker', '--queues', 'eval', '--backend', 'torch', '--device', 'cuda:0']),
    );
    expect(JSON.stringify(s['worker-eval-gpu']?.deploy)).toContain('gpu');
    for (const name of ['worker-main', 'worker-eval', 'worker-eval-gpu', 'worker-train']) {
      expect(s[name]?.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
      for (const v of s[name]?.volumes ?? []) expect(Object.keys(doc.volumes)).toContain(v.split(':')[0]);
    }
  });
});
