import { parentPort } from 'node:worker_threads';

/** The thread side of ThreadPool: runs one job at a time and reports progress, result or error. */
function serialise(err: unknown): {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, unknown>;
} {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), props: {} };
  const props: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(err)) {
    // only plain data crosses the thread boundary
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) props[k] = v;
  }
  return { name: err.name, message: err.message, stack: err.stack, props };
}

const port = parentPort;
if (!port) throw new Error('src/threads/thread.ts runs only as a worker thread of ThreadPool');

/** Progress reaches the parent at most this often (heartbeats are throttled there anyway). */
const PROGRESS_EVERY_MS = 200;

port.on('message', (job: { module: string; fn: string; args: unknown[] }) => {
  let sentAt = -Infinity;
  void (async () => {
    try {
      const mod = require(job.module) as Record<string, unknown>;
      const fn = mod[job.fn];
      if (typeof fn !== 'function') throw new Error(`${job.module} exports no function ${job.fn}`);
      const result: unknown = await fn(...job.args, {
        onProgress: (progress: unknown) => {
          const now = performance.now();
          if (now - sentAt < PROGRESS_EVERY_MS) return;
          sentAt = now;
          port.postMessage({ type: 'progress', progress });
        },
      });
      port.postMessage({ type: 'done', result });
    } catch (err) {
      port.postMessage({ type: 'error', error: serialise(err) });
    }
  })();
});
