import { Client, Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';

/** A client on the integration run's dev server (started in global-setup). */
export async function testClient(
  address = process.env.TEMPORAL_ADDRESS,
): Promise<{ client: Client; close: () => Promise<void> }> {
  if (!address)
    throw new Error(
      'TEMPORAL_ADDRESS is not set: integration tests run under jest --selectProjects integration',
    );
  const connection = await Connection.connect({ address });
  return {
    client: new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' }),
    close: () => connection.close(),
  };
}

/** Runs the workers while `fn` runs, then shuts them down. */
export async function withWorkers<T>(workers: Worker[], fn: () => Promise<T>): Promise<T> {
  const running = workers.map((w) => w.run());
  try {
    return await fn();
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
  }
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
