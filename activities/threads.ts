import { availableParallelism } from 'node:os';
import { Context } from '@temporalio/activity';
import { ThreadPool } from '../src/threads/pool';

/**
 * The worker process's pool of threads for heavy activity bodies (evaluations, ONNX export and
 * weight conversion, world building, search steps, the report): the event loop that runs the
 * workflow tasks, queries and heartbeats of this process is never held up by them.
 */
let pool: ThreadPool | undefined;

/** Sizes the pool for the activities this process runs at once (each new set of workers adds its slots). */
export function configureActivityThreads(size: number): void {
  // threads start only as jobs arrive, so the slots of every set of workers can simply add up
  if (pool) pool.grow(pool.size + size);
  else pool = new ThreadPool(size, 'llama-nas-activity');
}

function activityThreads(): ThreadPool {
  pool ??= new ThreadPool(availableParallelism(), 'llama-nas-activity');
  return pool;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...args: any[]) => unknown;
type FnName<M> = { [K in keyof M]: M[K] extends Fn ? K : never }[keyof M] & string;

/**
 * A library module whose functions activities run in a thread: `module` is its absolute path
 * (require.resolve it), M its type (`import type * as m`). `run(fn, ...args)` calls
 * fn(...args, { onProgress }) there: the progress becomes this activity's heartbeats, and
 * cancelling the activity ends the thread.
 */
export function threadModule<M>(module: string) {
  const call = (affinity: string | undefined, fn: string, args: unknown[]) => {
    const ctx = Context.current();
    return activityThreads().run(
      { module, fn, args },
      { signal: ctx.cancellationSignal, onProgress: (p) => ctx.heartbeat(p), affinity },
    );
  };
  return {
    run<K extends FnName<M>>(
      fn: K,
      ...args: M[K] extends Fn ? Parameters<M[K]> : never
    ): Promise<M[K] extends Fn ? Awaited<ReturnType<M[K]>> : never> {
      return call(undefined, fn, args) as never;
    },
    /** run, always in the one thread of `affinity` (see RunOptions.affinity). */
    runPinned<K extends FnName<M>>(
      affinity: string,
      fn: K,
      ...args: M[K] extends Fn ? Parameters<M[K]> : never
    ): Promise<M[K] extends Fn ? Awaited<ReturnType<M[K]>> : never> {
      return call(affinity, fn, args) as never;
    },
  };
}
