import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LeaseBusyError,
  acquireLease,
  takeOverAbandoned,
  tryAcquireLease,
  withLease,
  type Lease,
  type LeaseOptions,
} from '../../src/lease';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'llama-nas-lease-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const hostA = { host: 'host-a', machine: 'boot-a/pid:[1]', pid: 100, ttlMs: 30_000 };
const hostB = { host: 'host-b', machine: 'boot-b/pid:[1]', pid: 100, ttlMs: 30_000 };

function take(path: string, who: LeaseOptions): Lease {
  const r = tryAcquireLease(path, who);
  if (!('lease' in r)) throw new Error(`${who.host} did not get ${path}`);
  return r.lease;
}

/** What a holder that died (or lost the volume) leaves: a lease not touched for `ageMs`. */
function age(path: string, ageMs: number): void {
  const then = new Date(Date.now() - ageMs);
  utimesSync(path, then, then);
}

describe('a lease on a shared folder', () => {
  it('names its holder, and a second host (same pid) does not get a live one', () => {
    const path = join(dir, '.lock');
    const a = take(path, hostA);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ host: 'host-a', pid: 100, ttlMs: 30_000 });
    const b = tryAcquireLease(path, hostB);
    expect(b).toEqual({ busy: expect.objectContaining({ host: 'host-a', pid: 100 }) });
    expect(a.refresh()).toBe(true);
    expect(tryAcquireLease(path, hostB)).toEqual({ busy: expect.objectContaining({ host: 'host-a' }) });
    a.release();
    expect(existsSync(path)).toBe(false);
    take(path, hostB).release();
  });

  it('is taken over once silent past its TTL; the old holder learns it lost it and cannot remove it', () => {
    const path = join(dir, '.lock');
    const a = take(path, hostA);
    age(path, 29_000);
    expect('busy' in tryAcquireLease(path, hostB)).toBe(true);
    age(path, 31_000);
    const b = take(path, hostB);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ host: 'host-b' });
    expect(a.held()).toBe(false);
    expect(a.refresh()).toBe(false);
    a.release();
    expect(b.held()).toBe(true);
    expect(readdirSync(dir)).toEqual(['.lock']);
  });

  it('is taken at once from an exited process of this very machine, never from a live one', () => {
    const path = join(dir, '.lock');
    const exited = spawnSync(process.execPath, ['-e', '']).pid!;
    take(path, { host: hostname(), pid: exited });
    const live = take(path, { host: hostname() });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ host: hostname(), pid: process.pid });
    expect('busy' in tryAcquireLease(path, { host: hostname() })).toBe(true);
    live.release();
    // an exited pid of another kernel or pid namespace (a container on the host network) proves nothing
    take(path, { ...hostA, pid: exited });
    expect('busy' in tryAcquireLease(path, { ...hostA, machine: 'boot-a/pid:[2]' })).toBe(true);
  });

  it('judges an unreadable lock file (the old pid-only format) by its age alone', () => {
    const path = join(dir, '.lock');
    writeFileSync(path, '12345');
    expect(tryAcquireLease(path, hostB)).toEqual({ busy: undefined });
    age(path, 31_000);
    take(path, hostB);
  });

  it('puts back a fresh lease that a late contender renamed away instead of the abandoned one', () => {
    const path = join(dir, '.lock');
    const a = take(path, hostA);
    const judged = JSON.parse(readFileSync(path, 'utf8')) as Parameters<typeof takeOverAbandoned>[1];
    age(path, 31_000);
    // B saw the same abandoned lease, took it over first and holds a fresh one now
    const b = take(path, hostB);
    takeOverAbandoned(path, judged, { token: 'late-contender' });
    expect(b.held()).toBe(true);
    expect(a.held()).toBe(false);
    expect(readdirSync(dir)).toEqual(['.lock']);
  });

  it('waits for a live lease up to waitMs and then says who holds it', async () => {
    const path = join(dir, '.lock');
    take(path, hostA);
    const err = await acquireLease(path, { ...hostB, waitMs: 300, pollMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseBusyError);
    expect((err as Error).message).toMatch(/held by pid 100 on host host-a/);
  });

  it('is kept alive while withLease runs and released after it, also on failure', async () => {
    const path = join(dir, '.lock');
    const lost: string[] = [];
    await expect(
      withLease(
        path,
        async () => {
          const before = readFileSync(path, 'utf8');
          age(path, 200); // older than a third of the TTL: the next refresh touches it
          await new Promise((r) => setTimeout(r, 250));
          expect(readFileSync(path, 'utf8')).toBe(before);
          expect('busy' in tryAcquireLease(path, hostB)).toBe(true);
          throw new Error('build failed');
        },
        { ...hostA, ttlMs: 300, onLost: (p) => lost.push(p) },
      ),
    ).rejects.toThrow('build failed');
    expect(lost).toEqual([]);
    expect(existsSync(path)).toBe(false);
  });

  it('tells its holder when another host took it over', async () => {
    const path = join(dir, '.lock');
    const lost = await new Promise<string>((resolve, reject) => {
      withLease(
        path,
        async () => {
          age(path, 10_000);
          take(path, hostB);
          await new Promise((r) => setTimeout(r, 400));
        },
        { ...hostA, ttlMs: 300, onLost: resolve },
      ).catch(reject);
    });
    expect(lost).toBe(path);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ host: 'host-b' });
  });

  it('goes to exactly one of several processes racing for an abandoned lease', async () => {
    const path = join(dir, '.lock');
    take(path, hostA);
    age(path, 60_000);
    const go = join(dir, 'go');
    const script = `
      const fs = require('node:fs');
      const { tryAcquireLease } = require(${JSON.stringify(join(__dirname, '../../src/lease.ts'))});
      const nap = new Int32Array(new SharedArrayBuffer(4));
      while (!fs.existsSync(${JSON.stringify(go)})) Atomics.wait(nap, 0, 0, 2);
      const r = tryAcquireLease(${JSON.stringify(path)}, { host: 'racer-' + process.argv[1], ttlMs: 30000 });
      process.stdout.write('lease' in r ? 'won' : 'lost');`;
    const racers = Array.from({ length: 4 }, (_, i) => {
      const child = spawn(process.execPath, ['-r', 'tsx/cjs', '-e', script, String(i)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise<string>((resolve) => child.on('exit', () => resolve(out)));
    });
    // every racer is spinning on the go file before it appears
    await new Promise((r) => setTimeout(r, 3000));
    writeFileSync(go, '');
    const outcomes = await Promise.all(racers);
    expect(outcomes.filter((o) => o === 'won')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'lost')).toHaveLength(3);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ host: expect.stringMatching(/^racer-/) });
  }, 60_000);
});
