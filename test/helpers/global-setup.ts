import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevServer, waitForPort } from '../../src/devserver';
import { requireTemporalCli } from '../../src/toolchain';
import { freePort } from './ports';

/**
 * Starts one real Temporal dev server for the whole integration run (or reuses the one named
 * by LLAMA_NAS_TEST_TEMPORAL_ADDRESS), and hands its address to the test workers through
 * TEMPORAL_ADDRESS.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.LLAMA_NAS_TEST_TEMPORAL_ADDRESS) {
    process.env.TEMPORAL_ADDRESS = process.env.LLAMA_NAS_TEST_TEMPORAL_ADDRESS;
    return;
  }
  const port = await freePort();
  const uiPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'llama-nas-temporal-'));
  const server = startDevServer({ cli: requireTemporalCli(), stateDir: dir, port, uiPort });
  (globalThis as { __temporalServer?: unknown }).__temporalServer = server;
  await waitForPort(port, '127.0.0.1', 120_000);
  process.env.TEMPORAL_ADDRESS = `127.0.0.1:${port}`;
  process.env.TEMPORAL_NAMESPACE = 'default';
  process.env.LLAMA_NAS_TEST_STATE = dir;
}
