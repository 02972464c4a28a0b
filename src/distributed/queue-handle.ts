import type { Processor } from 'bullmq';
import {
  openQueueConnection,
  type JobFlowProducer,
  type JobQueue,
  type JobWorker,
  type JobWorkerOptions,
  type QueueConnection,
} from './queue/index.js';

/**
 * The BullMQ classes of the queue the runner uses — a queue to add and remove jobs, a flow producer (the finish job
 * is the parent of the shot jobs), workers — over the queue seam's connection (PostgreSQL or Redis, by URL).
 * `label` names the server without its password.
 */
export interface QueueHandle {
  readonly label: string;
  readonly kind: QueueConnection['kind'];
  queue(name: string): JobQueue;
  flowProducer(): JobFlowProducer;
  worker<T, R>(name: string, processor: Processor<T, R>, options: JobWorkerOptions): JobWorker<T, R>;
  close(): Promise<void>;
}

/** A URL with its password replaced, for messages. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  return copy.href;
}

/**
 * Opens the queue `location` names (`postgres://…` or `redis://…`): a bad URL is a ValidationError, a server that
 * does not answer within 5 s a StoreError naming it without its password (see openQueueConnection).
 */
export async function openQueueHandle(
  location: string,
  options: { signal?: AbortSignal; onError?: (message: string) => void } = {},
): Promise<QueueHandle> {
  const connection = await openQueueConnection(location, {
    connectTimeoutMs: 5000,
    ...(options.signal ? { signal: options.signal } : {}),
    onError: (error, source) => options.onError?.(`queue (${source}): ${error.message}`),
  });
  return {
    label: connection.describe(),
    kind: connection.kind,
    queue: (name) => connection.queue(name),
    flowProducer: () => connection.flow(),
    worker: <T, R>(name: string, processor: Processor<T, R>, workerOptions: JobWorkerOptions) =>
      connection.worker<T, R>(name, processor, workerOptions),
    close: () => connection.close(),
  };
}
