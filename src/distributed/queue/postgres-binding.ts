import * as bullmq from 'bullmq';
import {
  createPostgresBackend,
  runMigrations,
  type BackendFactory,
  type IQueueBackend,
  type PostgresPoolConfig,
} from 'bullmq';
import pg from 'pg';
import type { BindOptions, QueueBinding } from './queue-connection.js';
import { queueServerError } from './queue-errors.js';
import type { QueueLocation } from './queue-url.js';
import { untilAborted } from './until-aborted.js';

const MIGRATION_TIMEOUT_MS = 60_000;

/**
 * BullMQ's PostgreSQL backend (bullmq ≥ 6): jobs are rows in a schema of their own, waiting workers are woken by
 * LISTEN/NOTIFY. Opening checks the server answers and runs BullMQ's migrations into the namespace schema (under
 * its advisory lock, so workers starting together do it once); instances then only check the schema version.
 */
export async function bindPostgres(location: QueueLocation, options: BindOptions): Promise<QueueBinding> {
  const describe = `${location.redacted} (schema ${options.namespace})`;
  const config = {
    connectionString: location.url,
    connectionTimeoutMillis: options.connectTimeoutMs,
    // A dropped connection (a server that died without a FIN) is noticed in seconds, not hours.
    keepAlive: true,
  };
  const client = new pg.Client(config);
  // Errors of this short-lived client surface through the awaited calls below.
  client.on('error', () => undefined);
  const abandon = (): void => void client.end().catch(() => undefined);
  try {
    await untilAborted(client.connect(), options.signal, options.connectTimeoutMs, abandon);
    // Migrating is slower than answering (a first open creates the tables): its own, wider bound.
    const migrating = Math.max(MIGRATION_TIMEOUT_MS, options.connectTimeoutMs);
    await untilAborted(runMigrations(client, options.namespace), options.signal, migrating, abandon);
  } catch (error) {
    // Not awaited: ending a client whose server never answered waits for that server (up to the connect
    // timeout); the socket is released in the background and the caller hears now.
    abandon();
    throw queueServerError(error, describe);
  }
  await client.end().catch(() => undefined);
  // Each instance gets its own pool (and a worker or QueueEvents its own LISTEN client), built by BullMQ from this
  // config: the schema only reaches BullMQ through the config-object form (it pins search_path on every connection).
  const connection: PostgresPoolConfig = { ...config, schema: options.namespace };
  // The runner is written against IQueueBackend; the factory's own connection type is this config.
  const factory = createPostgresBackend as unknown as BackendFactory<IQueueBackend, unknown>;
  return {
    bullmq,
    factory,
    instanceOptions: { connection },
    describe,
    close: async () => undefined,
  };
}
