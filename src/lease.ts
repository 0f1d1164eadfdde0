import { randomBytes } from 'node:crypto';
import {
  linkSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';

/**
 * A lease on a shared folder that holds across hosts sharing a volume (NFS, a Docker volume):
 * a file naming its holder (host, pid, a random token), taken atomically with link(2), which
 * fails when the file exists, and kept alive by touching its mtime. A lease whose mtime is
 * older than its time-to-live is abandoned (its holder died or lost the volume) and is taken
 * over, atomically, by renaming it away: only one contender's rename succeeds. Hosts are
 * assumed to keep their clocks within a few seconds of each other (NTP), well inside the TTL.
 * One shortcut: a lease left by a process of this very kernel and pid namespace (same boot id,
 * same namespace, so its pid means the same process here) that is gone is abandoned at once.
 * trainer/llama_nas_trainer/lease.py implements the same protocol for the trainer.
 */
export const DEFAULT_LEASE_TTL_MS = 60_000;

const HolderSchema = z.object({
  host: z.string(),
  pid: z.number().int(),
  token: z.string(),
  ttlMs: z.number().positive(),
  acquiredAt: z.string(),
  /** Kernel boot id and pid namespace of the holder (Linux), where its pid is meaningful. */
  machine: z.string().nullable().optional(),
});
export type LeaseHolder = z.infer<typeof HolderSchema>;

export interface LeaseOptions {
  /** Silence after which the lease counts as abandoned. */
  ttlMs?: number;
  /** Who holds it; injected by tests to play several hosts. */
  host?: string;
  pid?: number;
  machine?: string | null;
}

/** This kernel's boot id and this process's pid namespace, or null off Linux. */
export function machineId(): string | null {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `${boot}/${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return null;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `holder` is a process of this machine and pid namespace that has exited. */
function holderGoneHere(holder: LeaseHolder | undefined, me: LeaseHolder): boolean {
  return (
    holder !== undefined &&
    holder.host === me.host &&
    !!holder.machine &&
    holder.machine === me.machine &&
    !processAlive(holder.pid)
  );
}

export interface WaitOptions extends LeaseOptions {
  /** How long to wait for a live lease before giving up (default: for ever). */
  waitMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Called once when the lease is found held by someone else. */
  onWait?: (holder: LeaseHolder | undefined) => void;
}

export class LeaseBusyError extends Error {
  constructor(
    readonly path: string,
    readonly holder: LeaseHolder | undefined,
  ) {
    super(
      `${path}: held by ${holder ? `pid ${holder.pid} on host ${holder.host} since ${holder.acquiredAt}` : 'another process'}`,
    );
  }
}

/** What a lease file says, or undefined while it is being written or is not a lease. */
function readHolder(path: string): LeaseHolder | undefined {
  try {
    const parsed = HolderSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A held lease: refresh() keeps it, release() gives it up. */
export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private lostReported = false;

  constructor(
    readonly path: string,
    readonly holder: LeaseHolder,
  ) {}

  /** Whether the file still names this holder (false once another took it over). */
  held(): boolean {
    return readHolder(this.path)?.token === this.holder.token;
  }

  /** Touches the lease; false (and no touch) when it is no longer ours. */
  refresh(): boolean {
    if (!this.held()) return false;
    const now = new Date();
    utimesSync(this.path, now, now);
    return true;
  }

  /** Refreshes every third of the TTL until release(); `onLost` hears if it was taken over. */
  keepAlive(onLost: (path: string) => void): void {
    this.timer = setInterval(() => {
      let ok = false;
      try {
        ok = this.refresh();
      } catch {
        ok = false;
      }
      if (!ok && !this.lostReported) {
        this.lostReported = true;
        onLost(this.path);
      }
    }, this.holder.ttlMs / 3);
    this.timer.unref();
  }

  release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.held()) rmSync(this.path, { force: true });
  }
}

function newHolder(opts: LeaseOptions): LeaseHolder {
  return {
    host: opts.host ?? hostname(),
    pid: opts.pid ?? process.pid,
    token: randomBytes(12).toString('hex'),
    ttlMs: opts.ttlMs ?? DEFAULT_LEASE_TTL_MS,
    acquiredAt: new Date().toISOString(),
    machine: opts.machine === undefined ? machineId() : opts.machine,
  };
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Creates the lease file whole, or not at all when it exists. */
function create(path: string, holder: LeaseHolder): boolean {
  const tmp = `${path}.${holder.token}.new`;
  writeFileSync(tmp, JSON.stringify(holder));
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  // a file system without hard links: an exclusive create, briefly empty (read as held, not abandoned)
  try {
    writeFileSync(path, JSON.stringify(holder), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Takes an abandoned lease away, atomically: it is renamed to a name only this contender
 * knows, so of several contenders one wins. If what it took is not the abandoned lease it
 * judged (another contender took that one and made a fresh lease in the meantime), it puts
 * it back with link(2), which never overwrites.
 */
export function takeOverAbandoned(
  path: string,
  judged: LeaseHolder | undefined,
  me: { token: string },
): void {
  const aside = `${path}.${me.token}.stale`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const taken = readHolder(aside);
  const same = judged ? taken?.token === judged.token : taken === undefined;
  if (!same) {
    try {
      linkSync(aside, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  rmSync(aside, { force: true });
}

/**
 * One attempt: the lease if it was free or abandoned, else the live holder (undefined when
 * the file is being written or is not a lease).
 */
export function tryAcquireLease(
  path: string,
  opts: LeaseOptions = {},
): { lease: Lease } | { busy: LeaseHolder | undefined } {
  const me = newHolder(opts);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (create(path, me)) return { lease: new Lease(path, me) };
    const holder = readHolder(path);
    const touched = mtimeMs(path);
    if (touched === undefined) continue; // released in between
    const ttl = holder?.ttlMs ?? me.ttlMs;
    if (Date.now() - touched <= ttl && !holderGoneHere(holder, me)) return { busy: holder };
    takeOverAbandoned(path, holder, me);
  }
  return { busy: readHolder(path) };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(new Error('aborted'));
      },
      { once: true },
    );
  });
}

/** Waits for the lease (up to waitMs), polling; throws LeaseBusyError when the wait runs out. */
export async function acquireLease(path: string, opts: WaitOptions = {}): Promise<Lease> {
  const deadline = opts.waitMs === undefined ? Infinity : Date.now() + opts.waitMs;
  let told = false;
  for (;;) {
    const r = tryAcquireLease(path, opts);
    if ('lease' in r) return r.lease;
    if (!told) opts.onWait?.(r.busy);
    told = true;
    if (Date.now() >= deadline) throw new LeaseBusyError(path, r.busy);
    try {
      await sleep(Math.min(opts.pollMs ?? 1000, Math.max(1, deadline - Date.now())), opts.signal);
    } catch {
      throw new Error(`${path}: aborted while waiting for ${r.busy?.host ?? 'another host'} to release it`);
    }
  }
}

/** Runs `fn` holding the lease, kept alive meanwhile; released afterwards whatever happens. */
export async function withLease<T>(
  path: string,
  fn: () => Promise<T>,
  opts: WaitOptions & { onLost?: (path: string) => void } = {},
): Promise<T> {
  const lease = await acquireLease(path, opts);
  lease.keepAlive(
    opts.onLost ??
      ((p) => console.warn(`llama-nas: lost the lease ${p} to another process (it was silent over its TTL)`)),
  );
  try {
    return await fn();
  } finally {
    lease.release();
  }
}
