import { Worker } from 'node:worker_threads';
import { z } from 'zod';

/**
 * Heavy work (evaluations, exports, weight conversion, world building) runs in worker threads
 * owned by the worker process, so the event loop that runs workflow tasks, queries and
 * heartbeats is never held up. A job names a module and one of its exported functions, called
 * in a thread as fn(...args, { onProgress }); progress comes back as messages, cancellation
 * terminates the thread. Threads are kept between jobs (a module's caches survive) and are
 * started lazily, up to `size` at once.
 */
export interface ThreadJob {
  /** Absolute path of the module (a .ts file is loaded through tsx). */
  module: string;
  fn: string;
  args: unknown[];
}

export interface JobContext {
  onProgress: (progress: unknown) => void;
}

export interface RunOptions {
  onProgress?: (progress: unknown) => void;
  signal?: AbortSignal;
  /**
   * Jobs of one affinity always run in the same thread, one at a time: state a module keeps for
   * the life of its thread (a scoring process holding a super-network on a GPU) then exists once
   * per worker process, not once per thread.
   */
  affinity?: string;
}

const FromThread = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), progress: z.unknown() }),
  z.object({ type: z.literal('done'), result: z.unknown() }),
  z.object({
    type: z.literal('error'),
    error: z.object({
      name: z.string(),
      message: z.string(),
      stack: z.string().optional(),
      props: z.record(z.string(), z.unknown()),
    }),
  }),
]);

/** An error thrown in a thread, rebuilt here with its name (activities classify errors by name), stack and fields. */
function rebuild(e: {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, unknown>;
}): Error {
  const err = Object.assign(new Error(e.message), e.props);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

// the thread's entry: tsx's hook first, so the job modules may be TypeScript
const ENTRY = `require(${JSON.stringify(require.resolve('tsx/cjs'))});
require(${JSON.stringify(require.resolve('./thread'))});`;

interface Slot {
  worker: Worker;
  busy: boolean;
  affinity?: string;
}

export class ThreadPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  private limit: number;

  constructor(
    size: number,
    readonly name = 'llama-nas',
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`thread pool size must be a positive integer, not ${size}`);
    this.limit = size;
  }

  /** Threads it may run at once. */
  get size(): number {
    return this.limit;
  }

  /** Lets it run up to `size` threads at once (never fewer than now). */
  grow(size: number): void {
    this.limit = Math.max(this.limit, size);
    this.wakeAll();
  }

  /** Threads started and alive (for tests and status). */
  get threads(): number {
    return this.slots.length;
  }

  private spawn(): Slot {
    const worker = new Worker(ENTRY, { eval: true, name: this.name, stdout: false, stderr: false });
    worker.unref();
    const slot: Slot = { worker, busy: false };
    worker.on('error', () => this.drop(slot));
    worker.on('exit', () => this.drop(slot));
    this.slots.push(slot);
    return slot;
  }

  private drop(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    this.wakeAll();
  }

  private async take(signal?: AbortSignal, affinity?: string): Promise<Slot> {
    for (;;) {
      if (this.closed) throw new Error('the thread pool is closed');
      signal?.throwIfAborted();
      const slot = this.free(affinity);
      if (slot) {
        slot.busy = true;
        if (affinity !== undefined) slot.affinity = affinity;
        slot.worker.ref(); // a running job keeps the process alive, an idle thread does not
        return slot;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** An idle thread for a job: its affinity's own thread if it has one, else an unclaimed or new one. */
  private free(affinity?: string): Slot | undefined {
    if (affinity !== undefined) {
      const own = this.slots.find((s) => s.affinity === affinity);
      if (own) return own.busy ? undefined : own;
    }
    const idle = this.slots.find((s) => !s.busy && s.affinity === undefined);
    if (idle) return idle;
    if (this.slots.length < this.limit) return this.spawn();
    // a job of no affinity may borrow a claimed thread while it is idle
    return affinity === undefined ? this.slots.find((s) => !s.busy) : undefined;
  }

  /** Every waiting job looks again (each waits for its own kind of thread). */
  private wakeAll(): void {
    for (const wake of this.waiting.splice(0)) wake();
  }

  private give(slot: Slot): void {
    slot.busy = false;
    slot.worker.unref();
    this.wakeAll();
  }

  /** Runs the job in a thread; rejects with the job's error, or with the signal's reason once aborted. */
  async run<T>(job: ThreadJob, opts: RunOptions = {}): Promise<T> {
    const slot = await this.take(opts.signal, opts.affinity);
    const { worker } = slot;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const cleanup = (): void => {
        settled = true;
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const onMessage = (raw: unknown): void => {
        const msg = FromThread.safeParse(raw);
        if (!msg.success) return;
        if (msg.data.type === 'progress') {
          opts.onProgress?.(msg.data.progress);
          return;
        }
        cleanup();
        this.give(slot);
        if (msg.data.type === 'done') resolve(msg.data.result as T);
        else reject(rebuild(msg.data.error));
      };
      const onError = (err: Error): void => {
        if (settled) return;
        cleanup();
        reject(err);
      };
      const onExit = (code: number): void => {
        if (settled) return;
        cleanup();
        reject(new Error(`the ${this.name} thread running ${job.fn} exited (code ${code})`));
      };
      const onAbort = (): void => {
        if (settled) return;
        cleanup();
        // the job may be deep in synchronous work: only ending the thread stops it
        void worker.terminate();
        reject(opts.signal?.reason ?? new Error('aborted'));
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ module: job.module, fn: job.fn, args: job.args });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    for (const wake of this.waiting.splice(0)) wake();
  }
}
