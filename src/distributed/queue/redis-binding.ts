import * as bullmq from 'bullmq';
import { createRedisBackend, type BackendFactory, type IQueueBackend } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { ValidationError } from '../../core/errors.js';
import type { BindOptions, QueueBinding } from './queue-connection.js';
import { queueServerError } from './queue-errors.js';
import type { QueueLocation } from './queue-url.js';
import { untilAborted } from './until-aborted.js';

/**
 * BullMQ on Redis (ioredis). Opening checks the server answers and keeps every key: a server allowed to evict
 * (`maxmemory-policy` other than `noeviction`) can silently drop a job or its lock under memory pressure, which
 * no idempotence downstream can repair, so it is refused rather than warned about.
 */
export async function bindRedis(location: QueueLocation, options: BindOptions): Promise<QueueBinding> {
  const describe = `${location.redacted} (prefix ${options.namespace})`;
  const connection = redisOptions(location, options.connectTimeoutMs);
  // The probe gives up at the first failure; the instances' own clients reconnect for ever (a restart).
  const probe = new Redis({
    ...connection,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  // ioredis reports why a connection ended (WRONGPASS, ECONNREFUSED) only as an 'error' event; the failed
  // `connect()` itself just says "Connection is closed".
  let reason: unknown;
  probe.on('error', (error: unknown) => (reason ??= error));
  const abandon = (): void => probe.disconnect();
  let policy: string | undefined;
  try {
    await untilAborted(probe.connect(), options.signal, options.connectTimeoutMs, abandon);
    const info = await untilAborted(probe.info('memory'), options.signal, options.connectTimeoutMs, abandon);
    policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  } catch (error) {
    throw queueServerError(reason ?? error, describe);
  } finally {
    probe.disconnect();
  }
  if (policy !== undefined && policy !== 'noeviction') {
    const message =
      `queue server ${describe} has maxmemory-policy ${policy}: it may evict queued jobs and their locks. ` +
      'Set it to noeviction (redis.conf `maxmemory-policy noeviction`, or `CONFIG SET maxmemory-policy noeviction`)';
    throw new ValidationError(message, [{ path: 'queue', message }], { details: { queue: describe } });
  }
  const factory = createRedisBackend as unknown as BackendFactory<IQueueBackend, unknown>;
  return {
    bullmq,
    factory,
    instanceOptions: { connection, prefix: options.namespace },
    describe,
    close: async () => undefined,
  };
}

/** The URL as ioredis options (BullMQ takes options or a client, not a URL). */
function redisOptions(location: QueueLocation, connectTimeoutMs: number): RedisOptions {
  const url = new URL(location.url);
  const db = url.pathname.replace(/^\//, '');
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 6379 : Number(url.port),
    ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
    ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
    ...(db === '' ? {} : { db: Number(db) }),
    ...(url.protocol === 'rediss:' ? { tls: { servername: url.hostname } } : {}),
    connectTimeout: connectTimeoutMs,
    // BullMQ's requirement for workers, and what lets a command wait out a server restart instead of failing.
    maxRetriesPerRequest: null,
  };
}
