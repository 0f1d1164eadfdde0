import { loadClientConnectConfig } from '@temporalio/envconfig';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

/**
 * Connection settings from the ecosystem's variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*); default: the embedded dev server on localhost:7233.
 */
export function connectConfig(): {
  address: string;
  namespace: string;
  options: ReturnType<typeof loadClientConnectConfig>['connectionOptions'];
} {
  const config = loadClientConnectConfig();
  const address = config.connectionOptions.address ?? process.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  return {
    address,
    namespace: config.namespace ?? 'default',
    options: { ...config.connectionOptions, address },
  };
}

export async function connectClient(): Promise<Client> {
  const { namespace, options } = connectConfig();
  const connection = await Connection.connect(options as Parameters<typeof Connection.connect>[0]);
  return new Client({ connection, namespace });
}

export async function connectWorker(): Promise<{ connection: NativeConnection; namespace: string }> {
  const { namespace, options } = connectConfig();
  return { connection: await NativeConnection.connect(options), namespace };
}
