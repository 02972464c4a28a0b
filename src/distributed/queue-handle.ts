import { FlowProducer, Queue, Worker, type Processor, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { StoreError, ValidationError, errorMessage } from '../core/errors.js';

/**
 * The BullMQ classes of one queue backend, as the runner uses them: a queue to add and remove jobs, a flow
 * producer (the finish job is the parent of the shot jobs), workers. `label` names the server without its password.
 */
export interface QueueHandle {
  readonly label: string;
  queue(name: string): Queue;
  flowProducer(): FlowProducer;
  worker<T, R>(
    name: string,
    processor: Processor<T, R>,
    options: Omit<WorkerOptions, 'connection'>,
  ): Worker<T, R>;
  /** Fails (StoreError naming the server, no password) when the queue's server does not answer within `timeoutMs`. */
  check(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A URL with its password replaced, for messages. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  return copy.href;
}

/** BullMQ on Redis (`redis://[user:password@]host:port[/db]`). */
export function openRedisQueue(location: string): QueueHandle {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new ValidationError(`--queue "${location}" is not a URL (redis://host:port or postgres://…)`, [
      { path: '--queue', message: 'not a URL' },
    ]);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ValidationError(`--queue ${redactUrl(url)}: expected redis:// (or postgres://)`, [
      { path: '--queue', message: `unsupported scheme ${url.protocol}` },
    ]);
  }
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) {
    throw new ValidationError(
      `--queue ${redactUrl(url)}: the database "${url.pathname.slice(1)}" is not a number`,
      [{ path: '--queue', message: 'bad database number' }],
    );
  }
  const connection = {
    host: url.hostname,
    port: url.port ? Number(url.port) : 6379,
    db,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's blocking commands must wait out a Redis restart instead of failing after a few retries.
    maxRetriesPerRequest: null,
  };
  const opened: Array<{ close(): Promise<void> }> = [];
  const track = <T extends { close(): Promise<void> }>(x: T): T => {
    opened.push(x);
    return x;
  };
  return {
    label: redactUrl(url),
    queue: (name) => track(new Queue(name, { connection })),
    flowProducer: () => track(new FlowProducer({ connection })),
    worker: (name, processor, options) => track(new Worker(name, processor, { ...options, connection })),
    check: async (timeoutMs = 5000) => {
      // One short-lived client that gives up (BullMQ's own connections wait out outages forever, which is right
      // for a worker in service and wrong for a first connection to a mistyped host).
      const probe = new Redis({
        ...connection,
        lazyConnect: true,
        connectTimeout: timeoutMs,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        enableOfflineQueue: false,
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
      } catch (error) {
        throw new StoreError(`the queue server ${redactUrl(url)} is unreachable: ${errorMessage(error)}`, {
          cause: error,
          details: { queue: redactUrl(url) },
        });
      } finally {
        probe.disconnect();
      }
    },
    close: async () => {
      await Promise.allSettled(opened.map((x) => x.close()));
    },
  };
}
